"""The OpenAI-compatible client against a real server: answers and every failure kind."""

import pickle
import socket
import time

import pytest

from runs.providers import Endpoint, ErrorKind, ProviderError, chat
from tests.fakellm import Fault

JUDGE = [
    {"role": "system", "content": "You are a judge. Reply in JSON."},
    {"role": "user", "content": "Question: 2+2?\nAnswer: 4\nFAKE_SCORE: 8"},
]
PLAIN = [{"role": "user", "content": "What is the capital of France?"}]


def failure(run, endpoint, messages=PLAIN, **kw) -> ProviderError:
    async def scenario(session):
        with pytest.raises(ProviderError) as caught:
            await chat(session, endpoint, messages, **kw)
        return caught.value

    return run(scenario)


def wait_until(condition, seconds: float = 5.0) -> bool:
    """Poll a condition set by the server thread (a deadline, not a timing check)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_chat_returns_content_tokens_and_latency(run, fake, endpoint):
    result = run(lambda session: chat(session, endpoint, JUDGE))

    assert result.content == '{"score": 8, "reason": "fake judge: FAKE_SCORE"}'
    assert result.prompt_tokens > 0
    assert result.completion_tokens == len(result.content) // 4 + 1
    assert result.finish_reason == "stop"
    assert result.model == "judge-1"
    assert result.latency_ms > 0
    assert "choices" not in result.raw
    assert result.raw["usage"]["total_tokens"] == result.prompt_tokens + result.completion_tokens


def test_latency_is_measured_around_the_call(run, fake, endpoint):
    fake.set(latency=0.05)

    result = run(lambda session: chat(session, endpoint, PLAIN))

    assert result.latency_ms >= 50
    assert result.content == "answer to: What is the capital of France?"


def test_chat_sends_model_messages_params_and_bearer_key(run, fake, endpoint):
    params = {"temperature": 0, "max_tokens": 50, "model": "ignored", "stream": True}

    run(lambda session: chat(session, endpoint, JUDGE, params, json_mode=True))

    [sent] = fake.requests
    assert sent["model"] == "judge-1"
    assert sent["messages"] == JUDGE
    assert sent["temperature"] == 0
    assert sent["max_tokens"] == 50
    assert "stream" not in sent
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["_headers"]["authorization"] == "Bearer sk-test"


def test_chat_without_api_key_sends_no_authorization(run, fake):
    keyless = Endpoint(base_url=fake.url + "/", api_key=None, model="local")

    run(lambda session: chat(session, keyless, PLAIN))

    assert "authorization" not in fake.requests[0]["_headers"]
    assert "response_format" not in fake.requests[0]


def test_endpoint_repr_hides_the_api_key(endpoint):
    assert "sk-test" not in repr(endpoint)


@pytest.mark.parametrize(
    ("fault", "kind", "retryable", "status"),
    [
        ("429", ErrorKind.RATE_LIMITED, True, 429),
        ("quota", ErrorKind.QUOTA, False, 429),
        ("500", ErrorKind.SERVER_ERROR, True, 500),
        ("502", ErrorKind.SERVER_ERROR, True, 502),
        ("503", ErrorKind.SERVER_ERROR, True, 503),
        ("504", ErrorKind.SERVER_ERROR, True, 504),
        ("501", ErrorKind.SERVER_ERROR, False, 501),
        ("408", ErrorKind.TIMEOUT, True, 408),
        ("400", ErrorKind.CLIENT_ERROR, False, 400),
        ("401", ErrorKind.CLIENT_ERROR, False, 401),
        ("404", ErrorKind.CLIENT_ERROR, False, 404),
        ("402", ErrorKind.QUOTA, False, 402),
        ("malformed", ErrorKind.BAD_RESPONSE, True, 200),
        ("empty_choices", ErrorKind.BAD_RESPONSE, True, 200),
        ("length", ErrorKind.TRUNCATED, False, 200),
        ("refusal", ErrorKind.REFUSAL, False, 200),
    ],
)
def test_each_fault_maps_to_its_error_kind(run, fake, endpoint, fault, kind, retryable, status):
    fake.queue_faults(fault)

    error = failure(run, endpoint)

    assert (error.kind, error.retryable, error.status) == (kind, retryable, status)
    assert error.kind == kind.value  # plain strings compare too
    assert fake.pending_faults == 0


def test_rate_limit_carries_retry_after_from_the_header(run, fake, endpoint):
    fake.queue_faults(Fault("429", retry_after=0.05))

    error = failure(run, endpoint)

    assert error.retry_after == 0.05
    assert "Rate limit reached" in error.message


def test_rate_limit_reads_openai_reset_hints_when_retry_after_is_absent(run, fake, endpoint):
    hints = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0.5s",
        "x-ratelimit-remaining-tokens": "900",
        "x-ratelimit-reset-tokens": "20ms",
    }
    fake.queue_faults(Fault("429", retry_after="", headers=hints))

    error = failure(run, endpoint)

    assert error.retry_after == 60.5


def test_quota_is_exhaustion_not_a_rate_limit(run, fake, endpoint):
    fake.queue_faults("quota")

    error = failure(run, endpoint)

    assert error.quota_exhausted
    assert error.retry_after is None
    assert "exceeded your current quota" in error.message


def test_client_error_message_quotes_the_provider(run, fake, endpoint):
    fake.queue_faults("404")

    error = failure(run, endpoint)

    assert error.message == (
        "model judge-1 returned HTTP 404: The model does not exist or you do not have access to it."
    )


def test_truncated_answer_is_attached_so_its_tokens_can_be_billed(run, fake, endpoint):
    fake.queue_faults("length")

    error = failure(run, endpoint, JUDGE)

    assert error.partial is not None
    assert error.partial.finish_reason == "length"
    assert error.partial.content == '{"score": 8, "reason": "'
    assert error.partial.completion_tokens > 0


def test_refusal_names_what_the_model_said(run, fake, endpoint):
    fake.queue_faults("refusal")

    error = failure(run, endpoint)

    assert "I can't help with that" in error.message
    assert error.partial is not None


def test_content_filter_counts_as_a_refusal(run, fake, endpoint):
    fake.set(
        responder=lambda body: {
            "choices": [{"message": {"content": ""}, "finish_reason": "content_filter"}]
        }
    )

    error = failure(run, endpoint)

    assert error.kind == ErrorKind.REFUSAL


def test_error_object_inside_a_200_is_a_bad_response(run, fake, endpoint):
    fake.set(responder=lambda body: {"error": {"message": "upstream overloaded", "code": 502}})

    error = failure(run, endpoint)

    assert error.kind == ErrorKind.BAD_RESPONSE
    assert "upstream overloaded" in error.message


def test_malformed_body_is_retryable_only_once(run, fake, endpoint):
    fake.queue_faults("malformed")

    error = failure(run, endpoint)

    assert error.retryable
    assert error.attempt_limit == 2


def test_timeout_with_a_short_client_timeout_is_a_retryable_timeout(run, fake):
    impatient = Endpoint(base_url=fake.url, api_key=None, model="m", timeout=0.2)
    fake.queue_faults("timeout")

    error = failure(run, impatient)

    assert error.kind == ErrorKind.TIMEOUT
    assert error.retryable
    assert "0.2s" in error.message


def test_huge_body_is_too_large_without_reading_it_all(run, fake, endpoint):
    # 64 MB cannot fit in loopback socket buffers: the server can only finish
    # writing it if the client reads it, so an aborted write proves it did not.
    fake.queue_faults(Fault("huge", size=64_000_000))

    error = failure(run, endpoint, max_body_bytes=100_000)

    assert error.kind == ErrorKind.TOO_LARGE
    assert not error.retryable
    assert "100000-byte limit" in error.message
    assert wait_until(lambda: fake.huge_aborted == 1)


def test_declared_length_over_the_cap_is_refused_before_reading(run, fake, endpoint):
    fake.queue_faults(Fault("huge", size=300_000, chunked=False))

    error = failure(run, endpoint, max_body_bytes=100_000)

    assert error.kind == ErrorKind.TOO_LARGE
    assert "declares 300000 bytes" in error.message


def test_body_under_the_cap_is_accepted(run, fake, endpoint):
    fake.queue_faults(Fault("huge", size=50_000))

    result = run(lambda session: chat(session, endpoint, PLAIN, max_body_bytes=100_000))

    assert len(result.content) > 49_000


def test_refused_connection_is_a_retryable_connection_error(run):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = Endpoint(base_url=f"http://127.0.0.1:{port}/v1", api_key=None, model="m")

    error = failure(run, nowhere)

    assert error.kind == ErrorKind.CONNECTION
    assert error.retryable


def test_provider_error_survives_pickling_with_its_partial_answer(run, fake, endpoint):
    fake.queue_faults("length")
    error = failure(run, endpoint)
    error.attempts = 3

    copy = pickle.loads(pickle.dumps(error))

    assert copy.as_dict() == error.as_dict()
    assert copy.partial == error.partial
    assert str(copy) == error.message
