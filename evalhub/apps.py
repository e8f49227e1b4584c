from django.apps import AppConfig


class EvalhubConfig(AppConfig):
    name = "evalhub"
    verbose_name = "Tenancy and access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from evalhub import checks  # noqa: F401  (registers system checks)
