import json

import pytest
from jsonschema import Draft202012Validator

from tests.runs.conftest import make_dataset


def assert_matches(schema: dict, body) -> None:
    """Validate ``body`` against a JSON Schema written from the seed page."""
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=lambda e: e.path)
    assert not errors, (
        "; ".join(f"{list(e.path)}: {e.message}" for e in errors)
        + f"\n{json.dumps(body, indent=1, default=str)}"
    )


@pytest.fixture
def post_json(client):
    def post(url, body, **headers):
        return client.post(url, data=json.dumps(body), content_type="application/json", **headers)

    return post


@pytest.fixture
def member_key(member, org, key_for):
    return key_for(member)


@pytest.fixture
def qa_dataset(member, org):
    """An org dataset with json_equal (id 1) and exact_match (id 2) selected, as in seed 004's example."""
    records = [
        {
            "input": {"q": "user"},
            "expected_output": '{"id": 1, "tags": ["a", "b"]}',
            "actual_output": '{"id": 1, "tags": ["b", "a"], "x": 0}',
        },
        {"input": {"q": "ping"}, "expected_output": '"pong"', "actual_output": '"pong"'},
    ]
    return make_dataset(
        owner=member,
        organization=org,
        records=records,
        metrics=[("json_equal", {}), ("exact_match", {})],
    )
