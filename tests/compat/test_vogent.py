"""Seed 002 (Vogent): POST /eval_configs/{id}/runs → 200 AIEvalRun, and its poll."""

import uuid

import pytest

from runs.models import Run
from tests.compat.conftest import assert_matches
from tests.factories import AgentFactory, PromptVersionFactory
from tests.runs.conftest import make_config, make_dataset

pytestmark = pytest.mark.django_db

AI_EVAL_RUN = {
    "type": "object",
    "required": [
        "id",
        "status",
        "callAgentId",
        "versionedPromptId",
        "createdAt",
        "aggregateResult",
    ],
    "properties": {
        "id": {"type": "string"},
        "status": {"enum": ["PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"]},
        "callAgentId": {"type": "string"},
        "versionedPromptId": {"type": "string"},
        "createdAt": {"type": "string", "format": "date-time"},
        "aggregateResult": {
            "type": "object",
            "required": ["numFailing", "numPassing"],
            "properties": {"numFailing": {"type": "integer"}, "numPassing": {"type": "integer"}},
        },
    },
}


@pytest.fixture
def setup(member, org, judge_model, fake_llm):
    fake_llm.set(responder=lambda body: "42")
    dataset = make_dataset(
        owner=member,
        organization=org,
        records=[
            {"input": {"question": f"q{i}"}, "expected_output": "42" if i < 2 else "7"}
            for i in range(3)
        ],
    )
    version = make_config(
        owner=member, organization=org, dataset=dataset, metrics=[("exact_match", {})]
    )
    prompt_version = PromptVersionFactory(
        prompt__owner=member, prompt__organization=org, template="{{ question }}", model=judge_model
    )
    agent = AgentFactory(owner=member, organization=org, kind="model", model=judge_model)
    return version.config, prompt_version, agent, dataset


def auth(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_running_an_eval_config_answers_200_with_an_ai_eval_run(
    post_json, client, member_key, setup, transactional_db
):
    config, pv, agent, _ = setup
    response = post_json(
        f"/compat/vogent/eval_configs/{config.uuid}/runs",
        {"versionedPromptId": str(pv.uuid), "callAgentId": str(agent.uuid)},
        **auth(member_key),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert_matches(AI_EVAL_RUN, body)
    assert body["callAgentId"] == str(agent.uuid) and body["versionedPromptId"] == str(pv.uuid)
    polled = client.get(
        f"/compat/vogent/eval_configs/{config.uuid}/runs/{body['id']}", **auth(member_key)
    )
    assert polled.status_code == 200
    assert_matches(AI_EVAL_RUN, polled.json())
    assert polled.json()["status"] == "SUCCESS"
    assert polled.json()["aggregateResult"] == {"numFailing": 1, "numPassing": 2}


def test_eval_record_ids_pick_a_subset_of_the_configs_records(post_json, member_key, setup):
    config, pv, agent, dataset = setup
    first = dataset.latest_version().records.order_by("index").first()
    response = post_json(
        f"/compat/vogent/eval_configs/{config.uuid}/runs",
        {
            "versionedPromptId": str(pv.uuid),
            "callAgentId": str(agent.uuid),
            "evalRecordIds": [str(first.uuid)],
        },
        **auth(member_key),
    )
    assert response.status_code == 200
    assert Run.objects.get().item_count == 1


@pytest.mark.parametrize(
    "body",
    [
        {"versionedPromptId": 5, "callAgentId": "x"},
        {"versionedPromptId": "x", "callAgentId": "y", "evalRecordIds": "all"},
    ],
)
def test_wrong_types_are_400(post_json, member_key, setup, body):
    config = setup[0]
    response = post_json(
        f"/compat/vogent/eval_configs/{config.uuid}/runs", body, **auth(member_key)
    )
    assert response.status_code == 400
    assert not Run.objects.exists()


def test_malformed_json_is_400(client, member_key, setup):
    response = client.post(
        f"/compat/vogent/eval_configs/{setup[0].uuid}/runs",
        data="{",
        content_type="application/json",
        **auth(member_key),
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "case", ["missing_prompt", "unknown_prompt", "unknown_agent", "foreign_record"]
)
def test_validation_exceptions_are_422(post_json, member_key, setup, case):
    config, pv, agent, _ = setup
    body = {"versionedPromptId": str(pv.uuid), "callAgentId": str(agent.uuid)}
    if case == "missing_prompt":
        del body["versionedPromptId"]
    elif case == "unknown_prompt":
        body["versionedPromptId"] = str(uuid.uuid4())
    elif case == "unknown_agent":
        body["callAgentId"] = str(uuid.uuid4())
    else:
        body["evalRecordIds"] = [str(uuid.uuid4())]
    response = post_json(
        f"/compat/vogent/eval_configs/{config.uuid}/runs", body, **auth(member_key)
    )
    assert response.status_code == 422, response.content
    assert not Run.objects.exists()


def test_an_unknown_or_foreign_config_is_404(post_json, outsider, key_for, member_key, setup):
    config, pv, agent, _ = setup
    body = {"versionedPromptId": str(pv.uuid), "callAgentId": str(agent.uuid)}
    assert (
        post_json(
            f"/compat/vogent/eval_configs/{uuid.uuid4()}/runs", body, **auth(member_key)
        ).status_code
        == 404
    )
    assert (
        post_json(
            f"/compat/vogent/eval_configs/{config.uuid}/runs", body, **auth(key_for(outsider))
        ).status_code
        == 404
    )


def test_no_key_is_401(post_json, setup):
    assert post_json(f"/compat/vogent/eval_configs/{setup[0].uuid}/runs", {}).status_code == 401
