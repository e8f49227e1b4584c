"""Settings for the pytest suite: the production settings plus what tests need.

django-q2 reads `sync` once at import, so it cannot be flipped inside a test:
the suite runs tasks inline here, and the real-process fault tests start
`qcluster` subprocesses on `evalhub.settings` against the same test database.
"""

import os

os.environ.setdefault("DEBUG", "false")

from evalhub.settings import *  # noqa: F403
from evalhub.settings import Q_CLUSTER

SECRET_KEY = "test-only-secret-key-not-for-production-0123456789abcdef"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# Real-process tests run qcluster subprocesses against the test database, so
# on SQLite it must be a file they can open, not an in-memory database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # One file per pytest process, so two test runs in one work tree never share it.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")  # noqa: F405
    }
