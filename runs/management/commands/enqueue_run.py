"""Queue a run's pending chunks on the configured broker (ops tool; used by fault tests)."""

from django.core.management.base import BaseCommand, CommandError

from runs.models import Run
from runs.services import enqueue_run


class Command(BaseCommand):
    help = "Queue the pending chunks of a run on the broker."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)

    def handle(self, *args, **opts):
        if not Run.objects.filter(pk=opts["run_id"]).exists():
            raise CommandError(f"No run {opts['run_id']}.")
        self.stdout.write(f"queued {enqueue_run(opts['run_id'])} chunks")
