"""An HTTP-endpoint agent under test, called for real."""

import pytest

from runs.providers import ErrorKind, HttpAgentEndpoint, ProviderError, call_http_agent
from tests.fakellm import Fault


def agent_at(fake, **kw) -> HttpAgentEndpoint:
    return HttpAgentEndpoint(url=fake.agent_url, **kw)


def agent_failure(run, agent, payload=None) -> ProviderError:
    async def scenario(session):
        with pytest.raises(ProviderError) as caught:
            await call_http_agent(session, agent, payload or {"input": "hi"})
        return caught.value

    return run(scenario)


def test_agent_answer_is_the_output_field(run, fake):
    agent = agent_at(fake, headers={"X-Api-Key": "agent-secret"})
    payload = {"input": "What is 2+2?", "record_id": "r1"}

    result = run(lambda session: call_http_agent(session, agent, payload))

    assert result.content == "answer to: What is 2+2?"
    assert result.latency_ms > 0
    assert (result.prompt_tokens, result.completion_tokens) == (0, 0)
    [sent] = fake.requests
    assert sent["_path"] == "/agent"
    assert sent["record_id"] == "r1"
    assert sent["_headers"]["x-api-key"] == "agent-secret"
    assert "agent-secret" not in repr(agent)


def test_dotted_output_field_reaches_nested_answers_and_usage(run, fake):
    fake.set(
        agent_responder=lambda body: {
            "data": {"answer": "42", "trace": ["..."]},
            "usage": {"prompt_tokens": 12, "completion_tokens": 3},
            "request_id": "abc",
        }
    )

    result = run(
        lambda session: call_http_agent(
            session, agent_at(fake, output_field="data.answer"), {"input": "q"}
        )
    )

    assert result.content == "42"
    assert (result.prompt_tokens, result.completion_tokens) == (12, 3)
    assert result.raw == {
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
        "request_id": "abc",
    }


def test_output_field_may_index_a_list(run, fake):
    fake.set(agent_responder=lambda body: {"choices": [{"text": "first"}, {"text": "second"}]})

    result = run(
        lambda session: call_http_agent(
            session, agent_at(fake, output_field="choices.1.text"), {"input": "q"}
        )
    )

    assert result.content == "second"


def test_structured_output_is_returned_as_json_text(run, fake):
    fake.set(agent_responder=lambda body: {"output": {"label": "yes", "confidence": 0.9}})

    result = run(lambda session: call_http_agent(session, agent_at(fake), {"input": "q"}))

    assert result.content == '{"label": "yes", "confidence": 0.9}'


@pytest.mark.parametrize("body", [{"data": {}}, {"data": {"answer": None}}, {"data": "flat"}])
def test_missing_output_field_is_a_bad_response_naming_it(run, fake, body):
    fake.set(agent_responder=lambda _: body)

    error = agent_failure(run, agent_at(fake, output_field="data.answer"))

    assert error.kind == ErrorKind.BAD_RESPONSE
    assert not error.retryable
    assert "'data.answer'" in error.message


@pytest.mark.parametrize(
    ("fault", "kind", "retryable"),
    [
        ("503", ErrorKind.SERVER_ERROR, True),
        ("429", ErrorKind.RATE_LIMITED, True),
        ("403", ErrorKind.CLIENT_ERROR, False),
        ("malformed", ErrorKind.BAD_RESPONSE, True),
        ("empty_choices", ErrorKind.BAD_RESPONSE, False),
        (Fault("huge", size=3_000_000), ErrorKind.TOO_LARGE, False),
    ],
)
def test_agent_failures_are_classified_like_model_failures(run, fake, fault, kind, retryable):
    fake.queue_faults(fault)

    error = agent_failure(run, agent_at(fake))

    assert (error.kind, error.retryable) == (kind, retryable)


def test_agent_timeout(run, fake):
    fake.queue_faults("timeout")

    error = agent_failure(run, agent_at(fake, timeout=0.2))

    assert error.kind == ErrorKind.TIMEOUT


def test_responder_can_fail_an_agent_call_with_any_status(run, fake):
    fake.set(agent_responder=lambda body: Fault("422"))

    error = agent_failure(run, agent_at(fake))

    assert error.kind == ErrorKind.CLIENT_ERROR
    assert "HTTP 422" in error.message
