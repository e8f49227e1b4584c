"""Settings come from the environment and bad values are caught at start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_check(**env):
    full = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "Q_BROKER"}
    }
    full.update(env)
    full["DJANGO_SETTINGS_MODULE"] = "evalhub.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=full, capture_output=True, text=True
    )


def settings_for(**env):
    code = (
        "import django, json; from django.conf import settings; django.setup();"
        "db = settings.DATABASES['default'];"
        "print(json.dumps({'engine': db['ENGINE'], 'cache': settings.CACHES['default']['BACKEND'],"
        "'broker': 'redis' if 'redis' in settings.Q_CLUSTER else 'orm',"
        "'secure': settings.SESSION_COOKIE_SECURE, 'storage': settings.STORAGES['staticfiles']['BACKEND'],"
        "'txn': db.get('OPTIONS', {}).get('transaction_mode')}))"
    )
    full = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "Q_BROKER"}
    }
    full.update(env, DJANGO_SETTINGS_MODULE="evalhub.settings")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True, check=True
    )
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_no_configuration_means_sqlite_with_immediate_transactions_and_the_orm_broker():
    s = settings_for(DEBUG="true")
    assert s["engine"] == "django.db.backends.sqlite3"
    assert s["txn"] == "IMMEDIATE"
    assert s["broker"] == "orm"
    assert s["cache"].endswith("DatabaseCache")


def test_database_url_selects_postgresql():
    s = settings_for(DEBUG="true", DATABASE_URL="postgres://postgres@127.0.0.1:5432/evalhub")
    assert s["engine"] == "django.db.backends.postgresql"


def test_redis_url_selects_the_redis_cache_and_optionally_the_redis_broker():
    s = settings_for(DEBUG="true", REDIS_URL="redis://127.0.0.1:6379/0")
    assert s["cache"].endswith("RedisCache")
    assert s["broker"] == "orm"
    s = settings_for(DEBUG="true", REDIS_URL="redis://127.0.0.1:6379/0", Q_BROKER="redis")
    assert s["broker"] == "redis"


def test_production_defaults_when_debug_is_off():
    s = settings_for(SECRET_KEY="x" * 50)
    assert s["secure"] is True
    assert s["storage"].startswith("whitenoise")


@pytest.mark.parametrize(
    "env, message",
    [
        ({}, "SECRET_KEY is the development default"),
        ({"DEBUG": "true", "Q_BROKER": "kafka"}, "Q_BROKER must be 'orm' or 'redis'"),
        ({"DEBUG": "true", "Q_BROKER": "redis"}, "Q_BROKER=redis needs REDIS_URL"),
        ({"DEBUG": "true", "Q_TIMEOUT": "100", "Q_RETRY": "50"}, "Q_RETRY must be greater"),
        ({"DEBUG": "true", "ENGINE_CHUNK_SIZE": "0"}, "ENGINE_CHUNK_SIZE must be at least 1"),
        (
            {"DEBUG": "true", "ENGINE_RATE_LIMIT_MARGIN": "-0.1"},
            "ENGINE_RATE_LIMIT_MARGIN must be at least 0",
        ),
        ({"DEBUG": "true", "ENGINE_TASK_SECONDS": "0"}, "ENGINE_TASK_SECONDS must be above 0"),
    ],
)
def test_system_checks_refuse_bad_settings(env, message):
    result = run_check(**env)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_a_sane_environment_passes_the_checks():
    result = run_check(DEBUG="true")
    assert result.returncode == 0, result.stderr


def test_production_collectstatic_succeeds(tmp_path):
    """Production serves hashed, compressed files; a vendored asset pointing at a
    file that isn't there (a source map, say) breaks collectstatic and the deploy."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "Q_BROKER"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="evalhub.settings",
        DEBUG="false",
        SECRET_KEY="collectstatic-test-key-0123456789abcdefghijklmnopqrstuvwxyz",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    assert "vendor/htmx" in manifest and "vendor/chart" in manifest


def test_gunicorns_keep_alive_outlasts_the_pages_polling():
    """A connection closed just as the next poll leaves costs that poll a new one."""
    import re
    import runpy

    from gunicorn.config import Config

    root = Path(__file__).resolve().parents[2]
    cfg = Config()
    for name, value in runpy.run_path(str(root / "gunicorn.conf.py")).items():
        if name in cfg.settings:
            cfg.set(name, value)
    intervals = [
        int(seconds)
        for template in (root / "templates").rglob("*.html")
        for seconds in re.findall(r'hx-trigger="[^"]*every (\d+)s', template.read_text())
    ]
    assert intervals and cfg.keepalive > max(intervals)
