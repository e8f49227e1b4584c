"""Re-enqueue unfinished chunks of runs whose worker died (the scheduled sweeper, by hand)."""

from django.core.management.base import BaseCommand

from runs.engine.sweeper import sweep


class Command(BaseCommand):
    help = "Re-enqueue the pending chunks of active runs whose heartbeat is stale."

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=int,
            default=None,
            help="seconds without heartbeat (default: setting)",
        )

    def handle(self, *args, **opts):
        result = sweep(stale_after=opts["stale_after"])
        self.stdout.write(
            f"re-enqueued {result['requeued_chunks']} chunks, finalized {result['finalized_runs']} runs"
        )
