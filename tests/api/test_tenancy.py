"""API keys, organizations and their members, workspaces, rate limits."""

import pytest

from evalhub.models import ApiKey, Membership, Role

pytestmark = pytest.mark.django_db


def test_a_new_key_is_shown_once_and_works(member_api, as_):
    created = member_api.post("/api-keys/", {"name": "ci"})
    assert created.status_code == 201, created.content
    raw = created.json()["key"]
    assert raw.startswith("eh_") and created.json()["prefix"] in raw
    listed = member_api.get("/api-keys/").json()["results"]
    assert all("key" not in k for k in listed)
    assert raw not in member_api.get(f"/api-keys/{created.json()['id']}/").content.decode()
    assert as_(raw).get("/datasets/").status_code == 200


def test_listing_shows_prefix_and_last_use(member_api, member):
    (key,) = member_api.get("/api-keys/").json()["results"]
    assert key["user"] == "max" and key["last_used_at"] is not None and key["is_active"]


def test_a_revoked_key_stops_working(member, member_api, as_, key_for):
    raw = key_for(member, name="to revoke")
    key = ApiKey.objects.get(name="to revoke")
    response = member_api.post(f"/api-keys/{key.pk}/revoke/")
    assert response.status_code == 200 and response.json()["revoked_at"]
    assert as_(raw).get("/datasets/").status_code == 401


def test_an_owner_sees_and_revokes_org_keys_of_members_but_not_their_private_keys(
    member, org, owner_api, key_for
):
    key_for(member, organization=org, name="org key")
    key_for(member, name="private key")
    names = {k["name"] for k in owner_api.get("/api-keys/").json()["results"]}
    assert "org key" in names and "private key" not in names
    org_key = ApiKey.objects.get(name="org key")
    assert owner_api.post(f"/api-keys/{org_key.pk}/revoke/").status_code == 200


def test_a_member_cannot_see_another_members_key(member_api, viewer, org, key_for):
    key_for(viewer, organization=org, name="vera's")
    key = ApiKey.objects.get(name="vera's")
    assert member_api.get(f"/api-keys/{key.pk}/").status_code == 404


def test_only_an_owner_creates_a_key_for_a_member(member_api, owner_api, org, member, viewer):
    response = owner_api.post(
        "/api-keys/", {"name": "for max", "user": "max", "organization": org.pk}
    )
    assert response.status_code == 201 and response.json()["user"] == "max"
    refused = member_api.post(
        "/api-keys/", {"name": "for vera", "user": "vera", "organization": org.pk}
    )
    assert refused.status_code == 403


def test_an_org_scoped_key_cannot_mint_an_unscoped_one(member, org, other_org, key_for, as_):
    scoped = as_(key_for(member, organization=org))
    created = scoped.post("/api-keys/", {"name": "child"})
    assert created.status_code == 201 and created.json()["organization"] == org.pk
    assert scoped.post("/api-keys/", {"name": "x", "organization": other_org.pk}).status_code == 404


def test_organizations_list_the_callers_role(member_api, org, other_org):
    body = member_api.get("/organizations/").json()["results"]
    assert [(o["slug"], o["role"]) for o in body] == [("acme", "member")]


def test_owners_manage_members(owner_api, org, member, loner):
    listed = owner_api.get(f"/organizations/{org.pk}/members/").json()["results"]
    assert {m["username"] for m in listed} >= {"olivia", "max"}
    added = owner_api.post(f"/organizations/{org.pk}/members/", {"user": "lena", "role": "viewer"})
    assert added.status_code == 201 and added.json()["role"] == "viewer"
    changed = owner_api.patch(f"/organizations/{org.pk}/members/{loner.pk}/", {"role": "member"})
    assert changed.json()["role"] == "member"
    assert owner_api.delete(f"/organizations/{org.pk}/members/{loner.pk}/").status_code == 204
    assert not Membership.objects.filter(user=loner).exists()


def test_members_are_managed_only_by_owners(member_api, org, loner):
    response = member_api.post(f"/organizations/{org.pk}/members/", {"user": "lena"})
    assert response.status_code == 403
    assert member_api.get(f"/organizations/{org.pk}/members/").status_code == 403


def test_the_last_owner_cannot_be_demoted(owner_api, org, owner):
    response = owner_api.patch(f"/organizations/{org.pk}/members/{owner.pk}/", {"role": "member"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "last_owner"
    assert Membership.objects.get(user=owner).role == Role.OWNER


def test_adding_an_unknown_user_names_the_field(owner_api, org):
    response = owner_api.post(f"/organizations/{org.pk}/members/", {"user": "nobody"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "user"


def test_workspaces_are_created_and_listed(member_api, org, outsider_api):
    team = member_api.post("/workspaces/", {"name": "Team", "organization": org.pk})
    mine = member_api.post("/workspaces/", {"name": "Mine"})
    assert team.status_code == mine.status_code == 201
    assert mine.json()["organization"] is None
    names = {w["name"] for w in member_api.get("/workspaces/").json()["results"]}
    assert names == {"Team", "Mine"}
    assert outsider_api.get("/workspaces/").json()["results"] == []


def test_a_dataset_can_be_created_in_a_workspace(member_api, org):
    team = member_api.post("/workspaces/", {"name": "Team", "organization": org.pk}).json()
    dataset = member_api.post("/datasets/", {"name": "In team", "workspace": team["id"]}).json()
    assert dataset["workspace"] == team["id"] and dataset["organization"] == org.pk


@pytest.fixture
def low_rate(monkeypatch):
    """Lower the per-key rate for one test (counts are forgotten by conftest afterwards)."""
    from evalhub.api.throttling import ApiKeyThrottle

    def set_rate(rate):
        monkeypatch.setattr(ApiKeyThrottle, "THROTTLE_RATES", {"api_key": rate})

    return set_rate


def test_too_many_requests_are_429_with_retry_after(member_api, low_rate):
    low_rate("3/min")
    statuses = [member_api.get("/datasets/").status_code for _ in range(3)]
    last = member_api.get("/datasets/")
    assert statuses == [200, 200, 200] and last.status_code == 429
    assert int(last["Retry-After"]) > 0
    assert last.json()["error"]["code"] == "throttled"


def test_the_limit_is_per_key(member, key_for, as_, low_rate):
    low_rate("1/min")
    first, second = as_(key_for(member, name="a")), as_(key_for(member, name="b"))
    assert first.get("/datasets/").status_code == 200
    assert second.get("/datasets/").status_code == 200
    assert first.get("/datasets/").status_code == 429
