"""API keys: shown once, stored as prefix + hash, revocable."""

from datetime import timedelta

import pytest
from django.utils import timezone

from evalhub.errors import InvalidInput, PermissionDenied
from evalhub.models import ApiKey, AuditEvent
from evalhub.services import apikey_create, apikey_revoke

pytestmark = pytest.mark.django_db


def test_the_raw_key_is_never_stored(member):
    key, raw = apikey_create(actor=member, user=member, name="ci")
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert all(raw not in str(value) for value in stored.values())
    assert raw.startswith(f"eh_{key.prefix}_")
    assert stored["key_hash"] == ApiKey.digest(raw)


def test_lookup_by_raw_key_finds_the_key_and_its_user(member):
    key, raw = apikey_create(actor=member, user=member, name="ci")
    found = ApiKey.find(raw)
    assert found == key
    assert found.user == member


def test_a_wrong_key_finds_nothing(member):
    _, raw = apikey_create(actor=member, user=member, name="ci")
    assert ApiKey.find(raw + "x") is None
    assert ApiKey.find("") is None
    assert ApiKey.find("x" * 5000) is None


def test_a_revoked_key_is_refused(member):
    key, raw = apikey_create(actor=member, user=member, name="ci")
    assert apikey_revoke(actor=member, key=key) is True
    assert ApiKey.find(raw) is None
    assert apikey_revoke(actor=member, key=key) is False


def test_an_expired_key_is_refused(member):
    _key, raw = apikey_create(
        actor=member, user=member, name="old", expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert ApiKey.find(raw) is None


def test_a_key_of_a_deactivated_user_is_refused(member):
    _, raw = apikey_create(actor=member, user=member, name="ci")
    member.is_active = False
    member.save()
    assert ApiKey.find(raw) is None


def test_creating_and_revoking_keys_is_audited(member):
    key, _ = apikey_create(actor=member, user=member, name="ci")
    apikey_revoke(actor=member, key=key)
    actions = list(
        AuditEvent.objects.filter(target_id=str(key.pk)).values_list("action", flat=True)
    )
    assert sorted(actions) == ["apikey.create", "apikey.revoke"]


def test_a_member_cannot_create_a_key_for_a_teammate(member, viewer, org):
    with pytest.raises(PermissionDenied):
        apikey_create(actor=member, user=viewer, name="sneaky", organization=org)


def test_an_owner_may_create_an_org_key_for_a_member(owner, member, org):
    _key, raw = apikey_create(actor=owner, user=member, name="ci", organization=org)
    assert ApiKey.find(raw).organization == org


def test_a_key_cannot_be_scoped_to_an_org_its_user_is_not_in(outsider, org, staff):
    with pytest.raises(InvalidInput) as err:
        apikey_create(actor=staff, user=outsider, name="x", organization=org)
    assert err.value.field == "organization"


def test_a_key_needs_a_name(member):
    with pytest.raises(InvalidInput) as err:
        apikey_create(actor=member, user=member, name="  ")
    assert err.value.field == "name"
    assert not ApiKey.objects.exists()


def test_last_use_is_recorded_when_a_request_authenticates(member, api_client, key_for):
    raw = key_for(member)
    api_client.get("/api/schema/", HTTP_X_API_KEY=raw)
    assert ApiKey.find(raw).last_used_at is not None


def test_bearer_and_x_api_key_headers_both_authenticate(member, key_for, rf):
    from evalhub.authentication import authenticate_key

    raw = key_for(member)
    assert authenticate_key(rf.get("/", HTTP_X_API_KEY=raw))[0] == member
    assert authenticate_key(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {raw}"))[0] == member
    assert authenticate_key(rf.get("/")) is None


def test_a_revoked_key_in_a_request_is_an_authentication_failure(member, rf):
    from rest_framework.exceptions import AuthenticationFailed

    from evalhub.authentication import authenticate_key

    key, raw = apikey_create(actor=member, user=member, name="ci")
    apikey_revoke(actor=member, key=key)
    with pytest.raises(AuthenticationFailed):
        authenticate_key(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {raw}"))
