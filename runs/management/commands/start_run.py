"""Start an evaluation run from the shell: ``manage.py start_run --dataset "Support QA" --wait``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from datasets.models import Dataset
from evalhub.errors import InvalidInput
from runs.models import EvalConfig, Run
from runs.services import run_create, run_create_from_dataset, wait_for_run


class Command(BaseCommand):
    help = "Start a run of a dataset (its selected metrics) or of an eval config, as a user."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username acting")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--dataset", help="dataset name or id: runs its selected metrics")
        target.add_argument("--config", help="eval config name or id: runs its latest version")
        parser.add_argument("--alias", default=None)
        parser.add_argument("--threshold", type=float, default=None)
        parser.add_argument("--model", dest="model_slug", default=None, help="judge model slug")
        parser.add_argument("--wait", action="store_true", help="block until the run finishes")
        parser.add_argument("--timeout", type=float, default=600.0)

    def handle(self, *args, **opts):
        try:
            user = get_user_model().objects.get(username=opts["user"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {opts['user']!r}.") from None
        try:
            if opts["dataset"]:
                dataset = self._find(Dataset.objects.visible_to(user), opts["dataset"], "dataset")
                run = run_create_from_dataset(
                    actor=user,
                    dataset=dataset,
                    alias=opts["alias"],
                    threshold=opts["threshold"],
                    model_slug=opts["model_slug"],
                    source=Run.Source.CLI,
                )
            else:
                config = self._find(EvalConfig.objects.visible_to(user), opts["config"], "config")
                version = config.latest_version()
                if version is None:
                    raise CommandError(f"Eval config {config} has no version yet.")
                run = run_create(
                    actor=user,
                    config_version=version,
                    alias=opts["alias"],
                    threshold=opts["threshold"],
                    model_slug=opts["model_slug"],
                    source=Run.Source.CLI,
                )
        except InvalidInput as err:
            raise CommandError(str(err)) from None
        self.stdout.write(f"Run {run.pk} ({run}) queued: {run.item_count} items.")
        if opts["wait"]:
            run = wait_for_run(run, timeout=opts["timeout"])
            self.stdout.write(
                f"Run {run.pk} {run.status}: {run.completed_count}/{run.item_count} items, "
                f"pass rate {run.pass_rate}%, aggregates {run.aggregate_results}"
            )
            if not run.is_finished:
                raise CommandError("Timed out waiting; the run goes on in the background.")

    @staticmethod
    def _find(qs, value: str, what: str):
        obj = qs.filter(pk=int(value)).first() if value.isdigit() else None
        obj = obj or qs.filter(name=value).order_by("-created_at").first()
        if obj is None:
            raise CommandError(f"No {what} {value!r} visible to this user.")
        return obj
