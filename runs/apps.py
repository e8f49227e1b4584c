from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Evaluations and runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from runs.catalogue import sync_metric_catalogue, sync_schedules

        # The metric catalogue mirrors the code registry, and the sweeper's
        # schedule is upserted by name: both stay right after every migrate.
        post_migrate.connect(sync_metric_catalogue, sender=self)
        post_migrate.connect(sync_schedules, sender=self)

        from django_q.signals import post_spawn

        from runs.tasks import warm_worker

        post_spawn.connect(warm_worker, dispatch_uid="evalhub-warm-worker")
