"""System checks on settings: a bad environment fails at start-up, not at 3 a.m."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def check_secret_key(app_configs, **kwargs):
    if not settings.DEBUG and settings.SECRET_KEY == settings.INSECURE_DEV_SECRET_KEY:
        return [
            Error(
                "SECRET_KEY is the development default while DEBUG is off.",
                hint="Set SECRET_KEY in the environment (see .env.example), or DEBUG=true for local use.",
                id="evalhub.E001",
            )
        ]
    return []


@register()
def check_broker(app_configs, **kwargs):
    errors = []
    if settings.Q_BROKER not in {"orm", "redis"}:
        errors.append(
            Error(
                f"Q_BROKER must be 'orm' or 'redis', not {settings.Q_BROKER!r}.",
                id="evalhub.E002",
            )
        )
    if settings.Q_BROKER == "redis" and not settings.REDIS_URL:
        errors.append(
            Error(
                "Q_BROKER=redis needs REDIS_URL.", hint="Set REDIS_URL=redis://…", id="evalhub.E003"
            )
        )
    q = settings.Q_CLUSTER
    if q.get("retry", 0) <= q.get("timeout", 0):
        errors.append(
            Error(
                "Q_RETRY must be greater than Q_TIMEOUT, or a live task is redelivered beside itself.",
                id="evalhub.E004",
            )
        )
    if q.get("sync") and not settings.DEBUG and "settings_test" not in settings.SETTINGS_MODULE:
        errors.append(Error("django-q2 sync mode is for tests only.", id="evalhub.E005"))
    return errors


@register()
def check_engine(app_configs, **kwargs):
    engine = settings.EVALHUB_ENGINE
    problems = []
    for key in ("CHUNK_SIZE", "LOCAL_CHUNK_SIZE", "CONCURRENCY", "MAX_ATTEMPTS"):
        if engine[key] is not None and engine[key] < 1:
            problems.append(
                Error(f"ENGINE_{key} must be at least 1, got {engine[key]}.", id="evalhub.E006")
            )
    if not 0 <= engine["RATE_LIMIT_MARGIN"] < 1:
        problems.append(
            Error(
                "ENGINE_RATE_LIMIT_MARGIN must be at least 0 and below 1, "
                f"got {engine['RATE_LIMIT_MARGIN']}.",
                id="evalhub.E007",
            )
        )
    if engine["TASK_SECONDS"] <= 0:
        problems.append(
            Error(
                f"ENGINE_TASK_SECONDS must be above 0, got {engine['TASK_SECONDS']}.",
                id="evalhub.E008",
            )
        )
    longest = engine["TASK_SECONDS"] + engine["REQUEST_TIMEOUT"] * engine["MAX_ATTEMPTS"]
    if longest >= settings.Q_CLUSTER["timeout"]:
        problems.append(
            Warning(
                "ENGINE_TASK_SECONDS + ENGINE_REQUEST_TIMEOUT × ENGINE_MAX_ATTEMPTS reaches "
                "Q_TIMEOUT: a chunk task whose last calls all time out could be killed by "
                "django-q2 before it records the errors.",
                id="evalhub.W001",
            )
        )
    return problems
