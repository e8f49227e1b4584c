"""The shared per-model rate limit: evenly spaced slots, on Redis and on the database."""

import asyncio
import os
import types
import uuid

import pytest

from runs.engine.ratelimit import DatabaseLimiter, Limit, RedisLimiter, acquire

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """The limiter reads a clock that stands still, so each wait is exactly the
    distance to its slot however slowly a busy machine runs the test."""
    monkeypatch.setattr(
        "runs.engine.ratelimit.time", types.SimpleNamespace(time=lambda: 1_800_000_000.0)
    )


def reservations(limiter, limit, n, tokens=0):
    async def go():
        try:
            return [await limiter.reserve(limit, tokens) for _ in range(n)]
        finally:
            await limiter.close()

    return asyncio.run(go())


def test_redis_limiter_spaces_requests_evenly_at_the_rpm():
    limit = Limit(key=f"test-{uuid.uuid4()}", rpm=600, tpm=None)
    waits = reservations(RedisLimiter(REDIS_URL), limit, 5)
    # Slots 0.1 s apart: five requests never exceed 600/min in any window.
    for i, wait in enumerate(waits):
        assert wait == pytest.approx(0.1 * i, abs=1e-6)


def test_redis_limiter_is_shared_by_separate_clients():
    """Two workers (two connections) draw from one budget."""
    limit = Limit(key=f"test-{uuid.uuid4()}", rpm=60, tpm=None)
    first = reservations(RedisLimiter(REDIS_URL), limit, 1)
    second = reservations(RedisLimiter(REDIS_URL), limit, 1)
    assert first[0] == pytest.approx(0, abs=1e-6)
    assert second[0] == pytest.approx(1.0, abs=1e-6)


def test_redis_limiter_counts_tokens_per_minute():
    limit = Limit(key=f"test-{uuid.uuid4()}", rpm=None, tpm=6000)
    waits = reservations(RedisLimiter(REDIS_URL), limit, 3, tokens=1000)
    # 1,000 tokens at 6,000/min is ten seconds of budget per call.
    assert waits[1] == pytest.approx(10.0, abs=1e-6)
    assert waits[2] == pytest.approx(20.0, abs=1e-6)


@pytest.mark.django_db(transaction=True)
def test_database_limiter_spaces_requests_the_same_way():
    limit = Limit(key=f"test-{uuid.uuid4()}", rpm=600, tpm=None)
    waits = reservations(DatabaseLimiter(), limit, 4)
    for i, wait in enumerate(waits):
        assert wait == pytest.approx(0.1 * i, abs=1e-6)


def test_no_limit_means_no_wait():
    limit = Limit(key="free", rpm=None, tpm=None)
    assert asyncio.run(acquire(None, limit, 100)) == 0.0


def test_a_margin_spaces_slots_wider_than_the_limit():
    """With a 2 % margin, 600/min becomes a slot every 0.102 s: 601 requests can
    never fall inside one provider minute even when some arrive a little late."""
    limit = Limit(key=f"test-{uuid.uuid4()}", rpm=600, tpm=None, margin=0.02)
    waits = reservations(RedisLimiter(REDIS_URL), limit, 3)
    assert waits == pytest.approx([0.0, 0.102, 0.204], abs=1e-6)
    assert 600 * limit.request_interval > 60.0


def test_models_get_the_configured_margin(settings):
    from runs.engine.ratelimit import limit_for
    from runs.models import LanguageModel

    settings.EVALHUB_ENGINE = {**settings.EVALHUB_ENGINE, "RATE_LIMIT_MARGIN": 0.05}
    limit = limit_for(LanguageModel(slug="m", rpm_limit=60, tpm_limit=6000))
    assert limit.request_interval == pytest.approx(1.05)
    assert limit.token_interval == pytest.approx(0.0105)
