"""Retrying real calls: what is retried, how long it waits, when it gives up.

Waits are asserted on a recording ``sleep``, never by the clock.
"""

import pytest

from runs.providers import Endpoint, ErrorKind, ProviderError, RetryPolicy, chat, with_retries
from tests.fakellm import Fault

PLAIN = [{"role": "user", "content": "hello"}]
NO_JITTER = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=30.0, jitter=0.0)


class Recorder:
    """Stands in for asyncio.sleep and on_retry, remembering what it was given."""

    def __init__(self):
        self.sleeps: list[float] = []
        self.retries: list[tuple[str, int, float]] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def on_retry(self, error: ProviderError, attempt: int, delay: float) -> None:
        self.retries.append((error.kind, attempt, delay))


def call_with_retries(run, endpoint, policy=NO_JITTER, recorder=None, **kw):
    recorder = recorder or Recorder()

    async def scenario(session):
        return await with_retries(
            lambda: chat(session, endpoint, PLAIN, **kw),
            policy,
            on_retry=recorder.on_retry,
            sleep=recorder.sleep,
        )

    return run(scenario)


def retries_then_failure(run, endpoint, policy=NO_JITTER):
    recorder = Recorder()
    with pytest.raises(ProviderError) as caught:
        call_with_retries(run, endpoint, policy, recorder)
    return caught.value, recorder


def test_recovers_after_two_rate_limits_waiting_what_the_server_asked(run, fake, endpoint):
    fake.queue_faults(Fault("429", retry_after=0.05), Fault("429", retry_after=0))
    recorder = Recorder()

    result = call_with_retries(run, endpoint, recorder=recorder)

    assert result.content == "answer to: hello"
    assert recorder.sleeps == [0.05, 0.0]
    assert recorder.retries == [("rate_limited", 1, 0.05), ("rate_limited", 2, 0.0)]
    assert len(fake.requests) == 3


def test_gives_up_after_max_attempts_when_the_judge_always_fails(run, fake, endpoint):
    fake.set(always="500")

    error, recorder = retries_then_failure(run, endpoint, RetryPolicy(max_attempts=3, jitter=0))

    assert error.kind == ErrorKind.SERVER_ERROR
    assert error.attempts == 3
    assert "The server had an error while processing your request" in error.message
    assert recorder.sleeps == [0.5, 1.0]  # exponential: base, 2 x base
    assert len(fake.requests) == 3


@pytest.mark.parametrize("fault", ["quota", "400", "401", "length", "refusal", Fault("huge")])
def test_permanent_failures_are_never_retried(run, fake, endpoint, fault):
    fake.set(always=fault)

    error, recorder = retries_then_failure(run, endpoint)

    assert not error.retryable
    assert error.attempts == 1
    assert recorder.sleeps == []
    assert len(fake.requests) == 1


def test_malformed_body_is_retried_once_then_reported(run, fake, endpoint):
    fake.set(always="malformed")

    error, _ = retries_then_failure(run, endpoint)

    assert error.kind == ErrorKind.BAD_RESPONSE
    assert error.attempts == 2
    assert len(fake.requests) == 2


def test_malformed_body_then_a_good_one_succeeds(run, fake, endpoint):
    fake.queue_faults("malformed")

    result = call_with_retries(run, endpoint)

    assert result.content == "answer to: hello"
    assert len(fake.requests) == 2


def test_timeout_is_retried(run, fake):
    impatient = Endpoint(base_url=fake.url, api_key=None, model="m", timeout=0.2)
    fake.queue_faults("timeout", "503")
    recorder = Recorder()

    result = call_with_retries(run, impatient, recorder=recorder)

    assert result.content == "answer to: hello"
    assert [kind for kind, _, _ in recorder.retries] == ["timeout", "server_error"]


def test_retry_after_is_capped_at_max_delay(run, fake, endpoint):
    fake.queue_faults(Fault("429", retry_after=120))
    recorder = Recorder()

    call_with_retries(run, endpoint, RetryPolicy(max_delay=2.0), recorder)

    assert recorder.sleeps == [2.0]


def test_retry_after_on_a_503_is_honoured(run, fake, endpoint):
    fake.queue_faults(Fault("503", headers={"Retry-After": "3"}))
    recorder = Recorder()

    call_with_retries(run, endpoint, recorder=recorder)

    assert recorder.sleeps == [3.0]


def test_async_on_retry_is_awaited(run, fake, endpoint):
    fake.queue_faults("500")
    seen = []

    async def on_retry(error, attempt, delay):
        seen.append(attempt)

    async def no_wait(seconds):
        pass

    async def scenario(session):
        return await with_retries(
            lambda: chat(session, endpoint, PLAIN), NO_JITTER, on_retry=on_retry, sleep=no_wait
        )

    run(scenario)

    assert seen == [1]


def test_other_exceptions_are_not_retried(run):
    calls = []

    async def broken():
        calls.append(1)
        raise ValueError("a bug, not a provider failure")

    async def scenario(session):
        return await with_retries(broken, NO_JITTER)

    with pytest.raises(ValueError):
        run(scenario)
    assert calls == [1]


def test_backoff_grows_exponentially_within_the_jitter_band():
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, jitter=0.2)

    for attempt, nominal in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)]:
        for _ in range(50):
            assert nominal * 0.8 <= policy.delay(attempt) <= nominal * 1.2


def test_backoff_never_exceeds_max_delay_even_with_jitter():
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.5)

    assert all(policy.delay(10) <= 5.0 for _ in range(50))
