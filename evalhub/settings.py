"""evalhub settings: read only from the environment (see .env.example).

With nothing set, evalhub runs the embedded way: a SQLite file in WAL mode and
django-q2's ORM broker on it, so `make run` needs no services. With
DATABASE_URL it runs on PostgreSQL (also the default broker, for its delivery
receipts); with REDIS_URL, Redis carries the shared cache, the rate limiters
and the API throttles, and can be the broker (Q_BROKER=redis).
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(env_file)

DEBUG = env.bool("DEBUG", default=False)
# A development key is only acceptable while DEBUG is on; evalhub.checks refuses
# to start a non-debug instance on it.
INSECURE_DEV_SECRET_KEY = "django-insecure-evalhub-development-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_q",
    "evalhub.apps.EvalhubConfig",
    "datasets.apps.DatasetsConfig",
    "runs.apps.RunsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "evalhub.urls"
WSGI_APPLICATION = "evalhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
SQLITE_PATH = env.path("SQLITE_PATH", default=BASE_DIR / "db.sqlite3")
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE
    # transactions take the write lock up front so two writers queue on the
    # busy timeout instead of failing with "database is locked" mid-transaction.
    _db.setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA busy_timeout=30000;"
                "PRAGMA foreign_keys=ON;"
            ),
        }
    )
else:
    _db.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    _db.setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, shared by rate limiters and throttles ---------------------------
# "polls" holds what live polls show (the runs status table, the run detail API),
# keyed by the state it was made from, so any cache there answers correctly.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    _redis = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "evalhub",
    }
    CACHES = {"default": _redis, "polls": {**_redis}}
else:
    # The database cache is shared by every process on the embedded default,
    # which a per-process memory cache would not be. Polls need no sharing, and
    # in memory they never write to the SQLite file the workers write to.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "evalhub_cache",
        },
        "polls": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "evalhub-polls",
            "OPTIONS": {"MAX_ENTRIES": 1000},
        },
    }

# --- Background work (django-q2) -------------------------------------------
Q_BROKER = env.str("Q_BROKER", default="orm")  # "orm" or "redis"
Q_WORKERS = env.int("Q_WORKERS", default=2)
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="evalhub"),
    "workers": Q_WORKERS,
    # A chunk task is bounded by its item count and the provider timeouts;
    # `retry` must exceed `timeout` or a live task is redelivered beside itself.
    "timeout": env.int("Q_TIMEOUT", default=900),
    "retry": env.int("Q_RETRY", default=960),
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=3),
    "ack_failures": True,
    "save_limit": env.int("Q_SAVE_LIMIT", default=1000),
    # Tasks a cluster takes off the broker ahead of its workers. Chunk tasks
    # are long: a cluster that prefetched fifty would sit on chunks while
    # other clusters idle (seen in the benchmarks). One per worker keeps
    # the next chunk ready without hoarding.
    "queue_limit": env.int("Q_QUEUE_LIMIT", default=Q_WORKERS),
    "bulk": 1,
    "poll": env.float("Q_POLL", default=0.2),
    "catch_up": False,
    "label": "Background tasks",
}
if Q_BROKER == "redis":
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Engine --------------------------------------------------------------
EVALHUB_ENGINE = {
    # Items per chunk task; unset: CONCURRENCY for runs that call a provider
    # (at least 25), LOCAL_CHUNK_SIZE for runs of local metrics only.
    "CHUNK_SIZE": env.int("ENGINE_CHUNK_SIZE", default=None),
    # Runs with only local (deterministic, statistical) metrics: bigger chunks.
    "LOCAL_CHUNK_SIZE": env.int("ENGINE_LOCAL_CHUNK_SIZE", default=2000),
    # Space rate-limited calls this much wider than the model's limit (0.02 =
    # 2 %): arrival jitter must not push a 601st request into a provider's minute.
    "RATE_LIMIT_MARGIN": env.float("ENGINE_RATE_LIMIT_MARGIN", default=0.02),
    "CONCURRENCY": env.int("ENGINE_CONCURRENCY", default=50),
    # A chunk task that calls a provider goes on to the run's next free chunks
    # (its slots never drain at a chunk's edge) for at most this many seconds,
    # then leaves the rest to their own tasks: other runs queued get a turn.
    "TASK_SECONDS": env.float("ENGINE_TASK_SECONDS", default=60.0),
    "MAX_ATTEMPTS": env.int("ENGINE_MAX_ATTEMPTS", default=4),
    "BACKOFF_BASE": env.float("ENGINE_BACKOFF_BASE", default=0.5),
    "BACKOFF_MAX": env.float("ENGINE_BACKOFF_MAX", default=30.0),
    "REQUEST_TIMEOUT": env.float("ENGINE_REQUEST_TIMEOUT", default=60.0),
    "HEARTBEAT_STALE_AFTER": env.int("ENGINE_HEARTBEAT_STALE_AFTER", default=120),
    "BLOCKING_TIMEOUT": env.float("ENGINE_BLOCKING_TIMEOUT", default=300.0),
    "MAX_RESPONSE_BYTES": env.int("ENGINE_MAX_RESPONSE_BYTES", default=2_000_000),
}

# Default LLM provider (OpenAI-compatible); models in the admin catalogue may
# name their own base URL and key.
LLM_BASE_URL = env.str("LLM_BASE_URL", default="https://api.openai.com/v1")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
DEFAULT_JUDGE_MODEL = env.str("DEFAULT_JUDGE_MODEL", default="gpt-4o-mini")

# --- Auth, API -------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "evalhub.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["evalhub.api.throttling.ApiKeyThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": API_THROTTLE_RATE},
    "EXCEPTION_HANDLER": "evalhub.api.exceptions.native_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "evalhub API",
    "DESCRIPTION": "Evaluate LLM applications: datasets, eval configs, runs and results.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `kind`, `source` or `status`: give each choice set its own name.
    "ENUM_NAME_OVERRIDES": {
        "DatasetKindEnum": "datasets.models.Dataset.Kind",
        "DatasetVersionSourceEnum": "datasets.models.DatasetVersion.Source",
        "MetricKindEnum": "runs.models.Metric.Kind",
        "AgentKindEnum": "runs.models.Agent.Kind",
        "ReportKindEnum": "runs.models.Report.Kind",
        "RunSourceEnum": "runs.models.Run.Source",
        "RunTypeEnum": "runs.models.Run.RunType",
        "RunStatusEnum": "runs.models.RunStatus",
        "ItemStatusEnum": "runs.models.ItemStatus",
        "RoleEnum": "evalhub.models.Role",
    },
}

# --- i18n, static ------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Uploads larger than this spill to a temporary file, so an import never holds
# a whole dataset in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=20 * 1024 * 1024)

# --- Production hardening (on whenever DEBUG is off) ---------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
