from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RunsConfig(AppConfig):
    name = "runs"
    verbose_name = "Evaluations and runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from runs.catalogue import sync_metric_catalogue

        # The metric catalogue's rows mirror the code registry; keeping them in
        # step after every migrate means ids seen by API clients never drift.
        post_migrate.connect(sync_metric_catalogue, sender=self)
