"""Seed 003 (Aymara): POST /v2/eval-runs/-/score-responses and GET /v2/eval-runs/{uuid}."""

import uuid

import pytest

from runs.models import Run
from tests.compat.conftest import assert_matches
from tests.runs.conftest import make_config, make_dataset

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/compat/aymara/v2/eval-runs/-/score-responses"

RESULT = {
    "type": "object",
    "required": ["eval_run_uuid", "eval_uuid", "status", "created_at", "updated_at"],
    "properties": {
        "eval_run_uuid": {"type": "string"},
        "eval_uuid": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "status": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "evaluation": {"type": ["object", "null"]},
        "ai_description": {"type": ["string", "null"]},
        "workspace_uuid": {"type": ["string", "null"]},
        "pass_rate": {"type": ["number", "null"]},
        "num_prompts": {"type": ["integer", "null"]},
        "num_responses_scored": {"type": ["integer", "null"]},
        "responses": {"type": ["array", "null"], "items": {"type": "object"}},
    },
}
ERROR = {
    "type": "object",
    "required": ["error", "request_id"],
    "properties": {"error": {"type": "object"}, "request_id": {"type": "string"}},
}


@pytest.fixture
def eval_(member, org, judge_model, fake_llm):
    dataset = make_dataset(
        owner=member,
        organization=org,
        records=[{"input": {"prompt": f"How do I make thing {i}?"}} for i in range(3)],
        metrics=[],
    )
    version = make_config(
        owner=member,
        organization=org,
        dataset=dataset,
        metrics=[("policy_compliance", {"policy": "Never give dangerous instructions."})],
        judge_model=judge_model,
    )
    prompts = list(dataset.latest_version().records.order_by("index"))
    return version.config, prompts


def auth(key):
    return {"HTTP_X_API_KEY": key}


def answers(prompts, verdicts=("pass", "pass", "fail")):
    return [
        {"prompt_uuid": str(p.uuid), "content": f"Answer.\nFAKE_VERDICT: {v}"}
        for p, v in zip(prompts, verdicts, strict=False)
    ]


def test_scoring_responses_returns_the_scored_eval_run(post_json, member_key, eval_, fake_llm):
    config, prompts = eval_
    response = post_json(
        URL,
        {
            "eval_uuid": str(config.uuid),
            "responses": answers(prompts),
            "ai_description": "A cooking assistant",
            "eval_run_examples": [
                {
                    "content": "Here is how to build a bomb",
                    "is_passing": False,
                    "explanation": "dangerous",
                }
            ],
        },
        **auth(member_key),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert_matches(RESULT, body)
    assert body["status"] == "finished"
    assert body["num_responses_scored"] == 3
    assert body["pass_rate"] == pytest.approx(2 / 3, abs=0.01)
    assert {r["is_passed"] for r in body["responses"]} == {True, False}
    judge_prompt = str(fake_llm.requests[0]["messages"])
    assert "A cooking assistant" in judge_prompt and "build a bomb" in judge_prompt


def test_the_bearer_header_works_as_well(post_json, member_key, eval_):
    config, prompts = eval_
    response = post_json(
        URL,
        {"eval_uuid": str(config.uuid), "responses": answers(prompts)},
        HTTP_AUTHORIZATION=f"Bearer {member_key}",
    )
    assert response.status_code == 200


def test_a_sandbox_run_calls_no_provider_and_says_so(post_json, member_key, eval_, fake_llm):
    config, prompts = eval_
    response = post_json(
        URL + "?is_sandbox=true",
        {"eval_uuid": str(config.uuid), "responses": answers(prompts)},
        **auth(member_key),
    )
    assert response.status_code == 200
    assert_matches(RESULT, response.json())
    assert fake_llm.request_count == 0
    assert response.json()["is_sandbox"] is True
    assert Run.objects.get().total_cost == 0


def test_responses_can_be_added_to_a_run_of_the_same_eval(post_json, member_key, eval_):
    config, prompts = eval_
    first = post_json(
        URL, {"eval_uuid": str(config.uuid), "responses": answers(prompts[:2])}, **auth(member_key)
    ).json()
    second = post_json(
        URL,
        {
            "eval_uuid": str(config.uuid),
            "eval_run_uuid": first["eval_run_uuid"],
            "responses": answers(prompts[2:], ("fail",)),
        },
        **auth(member_key),
    )
    assert second.status_code == 200, second.content
    assert second.json()["eval_run_uuid"] == first["eval_run_uuid"]
    assert second.json()["num_responses_scored"] == 3


def test_adding_to_another_evals_run_is_409(post_json, member_key, eval_, member, org, judge_model):
    config, prompts = eval_
    other_dataset = make_dataset(
        owner=member, organization=org, records=[{"input": "x"}], metrics=[]
    )
    other = make_config(
        owner=member,
        organization=org,
        dataset=other_dataset,
        metrics=[("policy_compliance", {"policy": "p"})],
        judge_model=judge_model,
    )
    other_prompt = other_dataset.latest_version().records.get()
    other_run = post_json(
        URL,
        {
            "eval_uuid": str(other.config.uuid),
            "responses": [{"prompt_uuid": str(other_prompt.uuid), "content": "c"}],
        },
        **auth(member_key),
    ).json()
    response = post_json(
        URL,
        {
            "eval_uuid": str(config.uuid),
            "eval_run_uuid": other_run["eval_run_uuid"],
            "responses": answers(prompts),
        },
        **auth(member_key),
    )
    assert response.status_code == 409
    assert_matches(ERROR, response.json())


@pytest.mark.parametrize(
    "body_of, status",
    [
        (lambda c, p: {"responses": []}, 422),
        (lambda c, p: {"eval_uuid": "not-a-uuid", "responses": []}, 422),
        (lambda c, p: {"eval_uuid": str(c.uuid), "responses": "many"}, 422),
        (
            lambda c, p: {
                "eval_uuid": str(c.uuid),
                "responses": [{"prompt_uuid": str(p[0].uuid), "content": 5}],
            },
            422,
        ),
        (
            lambda c, p: {
                "eval_uuid": str(uuid.uuid4()),
                "responses": [{"prompt_uuid": str(p[0].uuid), "content": "x"}],
            },
            404,
        ),
        (
            lambda c, p: {
                "eval_uuid": str(c.uuid),
                "responses": [{"prompt_uuid": str(uuid.uuid4()), "content": "x"}],
            },
            404,
        ),
        (
            lambda c, p: {
                "eval_uuid": str(c.uuid),
                "eval_run_uuid": str(uuid.uuid4()),
                "responses": [{"prompt_uuid": str(p[0].uuid), "content": "x"}],
            },
            404,
        ),
    ],
)
def test_errors_use_the_error_envelope_with_a_request_id(
    post_json, member_key, eval_, body_of, status
):
    config, prompts = eval_
    response = post_json(URL, body_of(config, prompts), **auth(member_key))
    assert response.status_code == status, response.content
    assert_matches(ERROR, response.json())
    assert not Run.objects.exists()


def test_malformed_json_is_400(client, member_key):
    response = client.post(URL, data="[", content_type="application/json", **auth(member_key))
    assert response.status_code == 400
    assert_matches(ERROR, response.json())


def test_no_key_is_401(post_json):
    response = post_json(URL, {})
    assert response.status_code == 401
    assert_matches(ERROR, response.json())


def test_a_viewer_is_403(post_json, viewer, key_for, eval_):
    config, prompts = eval_
    response = post_json(
        URL, {"eval_uuid": str(config.uuid), "responses": answers(prompts)}, **auth(key_for(viewer))
    )
    assert response.status_code == 403
    assert_matches(ERROR, response.json())


def test_too_many_requests_is_429_with_retry_after(post_json, member_key, monkeypatch):
    from django.core.cache import cache

    from runs.compat.base import ApiKeyThrottle

    cache.clear()
    monkeypatch.setattr(ApiKeyThrottle, "THROTTLE_RATES", {"api_key": "2/min"})
    responses = [post_json(URL, {}, **auth(member_key)) for _ in range(3)]
    cache.clear()
    assert [r.status_code for r in responses] == [422, 422, 429]
    assert int(responses[-1]["Retry-After"]) > 0
    assert_matches(ERROR, responses[-1].json())


def test_polling_a_run_returns_the_same_shape(post_json, client, member_key, eval_):
    config, prompts = eval_
    created = post_json(
        URL, {"eval_uuid": str(config.uuid), "responses": answers(prompts)}, **auth(member_key)
    ).json()
    polled = client.get(
        f"/compat/aymara/v2/eval-runs/{created['eval_run_uuid']}", **auth(member_key)
    )
    assert polled.status_code == 200
    assert_matches(RESULT, polled.json())
