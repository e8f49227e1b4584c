"""The cast every test shares: one organization with an owner, a member and a
viewer, and an outsider who belongs to another organization."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from evalhub.models import ApiKey, Role
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Globex", slug="globex")


def _member(org, username, role):
    user = UserFactory(username=username)
    MembershipFactory(user=user, organization=org, role=role)
    return user


@pytest.fixture
def owner(org):
    return _member(org, "olivia", Role.OWNER)


@pytest.fixture
def member(org):
    return _member(org, "max", Role.MEMBER)


@pytest.fixture
def viewer(org):
    return _member(org, "vera", Role.VIEWER)


@pytest.fixture
def outsider(other_org):
    return _member(other_org, "oscar", Role.OWNER)


@pytest.fixture
def loner(db):
    """A user in no organization at all."""
    return UserFactory(username="lena")


@pytest.fixture
def staff(db):
    return UserFactory(username="sam-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def key_for():
    """``key_for(user, organization=None)`` → raw API key acting for ``user``."""

    def make(user, organization=None, name="test key"):
        _, raw = ApiKey.generate(user=user, name=name, organization=organization)
        return raw

    return make


# --- a real OpenAI-compatible server on 127.0.0.1 -----------------------------


@pytest.fixture(scope="session")
def _fake_llm_server():
    from tests.fakellm import FakeLLM

    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(_fake_llm_server):
    """The fake LLM, reset for this test; configure with ``set()`` / ``queue_faults()``."""
    _fake_llm_server.reset()
    yield _fake_llm_server
    _fake_llm_server.reset()


@pytest.fixture
def judge_model(db, fake_llm):
    """A catalogue model pointing at the fake LLM."""
    from decimal import Decimal

    from runs.models import LanguageModel

    model, _ = LanguageModel.objects.update_or_create(
        slug="fake-judge",
        defaults={
            "base_url": fake_llm.url,
            "api_key": "sk-test",
            "input_price_per_mtok": Decimal("1.00"),
            "output_price_per_mtok": Decimal("2.00"),
        },
    )
    return model
