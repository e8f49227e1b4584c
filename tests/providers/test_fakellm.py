"""The fake server itself: its answers, faults, limits and capacity are what other
tests rely on, so they are pinned here."""

import asyncio
import json
import urllib.request

import aiohttp
import pytest

from runs.providers import Endpoint, ErrorKind, ProviderError, chat, make_session
from tests.fakellm import FakeLLM, Fault, control, spawn_fake_llm, stats


def judge(text: str) -> list[dict]:
    return [
        {"role": "system", "content": "Grade the answer. Reply with JSON."},
        {"role": "user", "content": text},
    ]


def ask(run, endpoint, messages, **kw):
    return run(lambda session: chat(session, endpoint, messages, **kw)).content


def test_judge_reads_the_score_from_the_last_user_message(run, fake, endpoint):
    assert json.loads(ask(run, endpoint, judge("Answer: 4\nFAKE_SCORE: 2.5")))["score"] == 2.5


def test_judge_reads_a_verdict(run, fake, endpoint):
    content = ask(run, endpoint, judge("Answer: no\nFAKE_VERDICT: fail"))

    assert json.loads(content) == {"verdict": "fail", "reason": "fake judge: FAKE_VERDICT"}


def test_judge_without_a_hint_scores_five(run, fake, endpoint):
    content = ask(run, endpoint, judge("Answer: 4"))

    assert json.loads(content) == {"score": 5, "reason": "fake judge: looks correct"}


def test_json_mode_alone_makes_a_judge_request(run, fake, endpoint):
    messages = [{"role": "user", "content": "grade this, FAKE_SCORE: 1"}]

    assert json.loads(ask(run, endpoint, messages, json_mode=True))["score"] == 1


def test_plain_request_is_echoed_deterministically(run, fake, endpoint):
    long = "Tell me everything about the history of the Roman Empire, in detail please."
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": long}]

    assert ask(run, endpoint, messages) == f"answer to: {long[:60]}"


def test_fake_answer_line_controls_a_plain_answer(run, fake, endpoint):
    messages = [{"role": "user", "content": "Q: capital?\nFAKE_ANSWER: Paris\nthanks"}]

    assert ask(run, endpoint, messages) == "Paris"


def test_responder_string_replaces_the_content(run, fake, endpoint):
    fake.set(responder=lambda body: f"{len(body['messages'])} messages")

    assert ask(run, endpoint, judge("x")) == "2 messages"


def test_a_fixed_responder_sent_through_control_answers_every_request(run, fake, endpoint):
    """Another process can only send data: a str responder is the fixed answer."""
    control(fake.url, responder='{"pass": true, "score": 1, "reason": "ok"}')

    assert ask(run, endpoint, judge("x")) == '{"pass": true, "score": 1, "reason": "ok"}'
    assert ask(run, endpoint, [{"role": "user", "content": "hi"}]).startswith('{"pass"')


def test_faults_are_consumed_in_order_then_answers_are_normal(run, fake, endpoint):
    fake.queue_faults("500", "quota")

    async def three_calls(session):
        kinds = []
        for _ in range(3):
            try:
                await chat(session, endpoint, judge("x"))
                kinds.append("ok")
            except ProviderError as error:
                kinds.append(error.kind)
        return kinds

    assert run(three_calls) == ["server_error", "quota", "ok"]


def test_always_fails_every_request_until_reset(run, fake, endpoint):
    fake.set(always="503")

    async def calls(session, n):
        kinds = []
        for _ in range(n):
            try:
                await chat(session, endpoint, judge("x"))
                kinds.append("ok")
            except ProviderError as error:
                kinds.append(error.kind)
        return kinds

    assert run(lambda s: calls(s, 3)) == ["server_error"] * 3
    fake.reset()
    assert run(lambda s: calls(s, 1)) == ["ok"]


def test_rpm_limit_rejects_requests_beyond_the_limit(run, fake, endpoint):
    fake.set(rpm_limit=3)

    async def five_calls(session):
        outcomes = []
        for _ in range(5):
            try:
                await chat(session, endpoint, judge("x"))
                outcomes.append("ok")
            except ProviderError as error:
                outcomes.append((error.kind, error.retry_after))
        return outcomes

    outcomes = run(five_calls)

    assert outcomes[:3] == ["ok"] * 3
    for kind, retry_after in outcomes[3:]:
        assert kind == ErrorKind.RATE_LIMITED
        assert 1 <= retry_after <= 60
    assert fake.rejected_429 == 2
    assert len(fake.requests) == 5


def test_requests_are_recorded_with_path_and_headers(run, fake, endpoint):
    ask(run, endpoint, judge("x"))

    [recorded] = fake.requests
    assert recorded["_path"] == "/v1/chat/completions"
    assert recorded["_headers"] == {"authorization": "Bearer sk-test"}
    assert recorded["messages"] == judge("x")


def test_reset_restores_the_constructor_settings(fake):
    fake.set(latency=1.5, rpm_limit=1, always="500")
    fake.queue_faults("429")

    fake.reset()

    assert (fake.latency, fake.rpm_limit, fake.always, fake.pending_faults) == (0.0, None, None, 0)


def test_unknown_settings_and_faults_are_refused(fake):
    with pytest.raises(TypeError):
        fake.set(latncy=1)
    with pytest.raises(ValueError):
        fake.queue_faults("teapot")


def test_models_endpoint_lists_a_model(fake):
    with urllib.request.urlopen(fake.url + "/models", timeout=5) as response:
        assert json.load(response)["data"][0]["id"] == "fake-model"


def test_required_api_key_is_enforced():
    with FakeLLM(api_key="sk-right") as strict:
        wrong = Endpoint(base_url=strict.url, api_key="sk-wrong", model="m")
        right = Endpoint(base_url=strict.url, api_key="sk-right", model="m")

        async def scenario():
            async with make_session(limit=2) as session:
                with pytest.raises(ProviderError) as caught:
                    await chat(session, wrong, judge("x"))
                await chat(session, right, judge("x"))
                return caught.value

        assert asyncio.run(scenario()).status == 401


def test_two_hundred_calls_fifty_in_flight_all_complete(run, fake, endpoint):
    fake.set(latency=0.05)

    async def scenario(session):
        return await asyncio.gather(
            *(chat(session, endpoint, judge(f"item {i}")) for i in range(200))
        )

    results = run(scenario, limit=50)

    assert len(results) == 200
    assert all(r.content.startswith('{"score": 5') for r in results)
    assert len(fake.requests) == 200
    assert 1 < fake.max_in_flight <= 50  # the client's pool, not the server, is the cap


def test_two_hundred_simultaneous_connections_are_served(run, fake, endpoint):
    fake.set(latency=0.2)

    async def scenario(session):
        return await asyncio.gather(*(chat(session, endpoint, judge("x")) for _ in range(200)))

    assert len(run(scenario, limit=200)) == 200
    assert fake.max_in_flight > 100


def test_stop_releases_requests_hanging_on_a_timeout_fault():
    fake = FakeLLM().start()
    fake.queue_faults(Fault("timeout", seconds=60))
    patient = Endpoint(base_url=fake.url, api_key=None, model="m", timeout=30)

    async def scenario():
        async with make_session(limit=2) as session:
            call = asyncio.create_task(chat(session, patient, judge("x")))
            while fake.in_flight == 0:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(fake.stop)
            with pytest.raises(ProviderError) as caught:
                await call
            return caught.value

    error = asyncio.run(scenario())

    # Released by stop(), well before the client's 30 s timeout.
    assert error.kind in (ErrorKind.SERVER_ERROR, ErrorKind.CONNECTION)


def test_server_in_another_process_answers_and_takes_commands():
    process, url = spawn_fake_llm(latency=0.01)
    try:
        control(url, faults=["503"])
        endpoint = Endpoint(base_url=url, api_key=None, model="m")

        async def scenario():
            async with aiohttp.ClientSession() as session:
                with pytest.raises(ProviderError) as caught:
                    await chat(session, endpoint, judge("x"))
                return caught.value, await chat(session, endpoint, judge("FAKE_SCORE: 9"))

        error, result = asyncio.run(scenario())

        assert error.status == 503
        assert json.loads(result.content)["score"] == 9
        assert stats(url)["requests"] == 2
    finally:
        process.terminate()
        process.wait(10)
    assert process.returncode == 0
