"""Seed 004's sharing rules: visibility, and the org a run inherits from its dataset."""

import pytest

from datasets.models import Dataset
from evalhub.models import Role
from evalhub.permissions import can
from runs.models import Run
from tests.factories import (
    DatasetFactory,
    MembershipFactory,
    OrganizationFactory,
    RunFactory,
    UserFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


# --- org_id inheritance for a run created from a dataset (seed 004, four cases) ---


def test_run_takes_the_datasets_org_first(org, other_org, member):
    dataset = DatasetFactory(
        owner=member, organization=org, workspace=WorkspaceFactory(organization=other_org)
    )
    sharing = dataset.sharing_for_run_by(member)
    assert sharing["organization"] == org
    assert sharing["owner"] == member
    assert sharing["workspace"] == dataset.workspace


def test_run_takes_the_collections_org_when_the_dataset_has_none(org, member):
    collection = WorkspaceFactory(organization=org, name="Customer Support")
    dataset = DatasetFactory(owner=member, organization=None, workspace=collection)
    sharing = dataset.sharing_for_run_by(member)
    assert sharing["organization"] == org
    assert sharing["workspace"] == collection


def test_run_on_someone_elses_private_dataset_takes_the_callers_org(org, member, loner):
    dataset = DatasetFactory(owner=loner, organization=None, workspace=None)
    sharing = dataset.sharing_for_run_by(member)
    assert sharing["organization"] == org
    assert sharing["owner"] == member


def test_an_org_scoped_key_decides_which_of_the_callers_orgs(org, other_org, member, loner):
    MembershipFactory(user=member, organization=other_org, role=Role.MEMBER)
    dataset = DatasetFactory(owner=loner, organization=None)
    sharing = dataset.sharing_for_run_by(member, acting_organization=other_org)
    assert sharing["organization"] == other_org


def test_run_on_your_own_private_dataset_stays_private(member):
    dataset = DatasetFactory(owner=member, organization=None, workspace=None)
    assert dataset.sharing_for_run_by(member)["organization"] is None


def test_run_on_someone_elses_dataset_is_private_when_you_have_no_org(loner):
    dataset = DatasetFactory(owner=UserFactory(), organization=None)
    assert dataset.sharing_for_run_by(loner)["organization"] is None


def test_a_personal_collection_without_org_leaves_the_run_private(member):
    collection = WorkspaceFactory(organization=None, owner=member)
    dataset = DatasetFactory(owner=member, organization=None, workspace=collection)
    sharing = dataset.sharing_for_run_by(member)
    assert sharing["organization"] is None
    assert sharing["workspace"] == collection


# --- visibility ---


@pytest.fixture
def org_dataset(org, owner):
    return DatasetFactory(owner=owner, organization=org)


def test_owner_sees_their_private_dataset(member):
    mine = DatasetFactory(owner=member, organization=None)
    assert mine in Dataset.objects.visible_to(member)


def test_teammates_do_not_see_a_private_dataset(member, viewer, owner):
    mine = DatasetFactory(owner=member, organization=None)
    assert mine not in Dataset.objects.visible_to(viewer)
    assert mine not in Dataset.objects.visible_to(owner)


def test_every_member_of_the_org_sees_an_org_dataset(org_dataset, member, viewer, owner):
    for user in (owner, member, viewer):
        assert org_dataset in Dataset.objects.visible_to(user)


def test_a_user_of_another_org_sees_nothing_of_this_org(org_dataset, outsider):
    assert org_dataset not in Dataset.objects.visible_to(outsider)
    assert not Dataset.objects.visible_to(outsider).exists()


def test_anonymous_users_see_nothing(org_dataset):
    from django.contrib.auth.models import AnonymousUser

    assert not Dataset.objects.visible_to(AnonymousUser()).exists()


def test_an_org_only_run_has_no_individual_owner_yet_members_see_it(org, member):
    run = RunFactory(owner=None, organization=org)
    assert run.is_org_only
    assert run in Run.objects.visible_to(member)


def test_an_org_scoped_view_hides_the_users_private_objects(org, member):
    private = DatasetFactory(owner=member, organization=None)
    shared = DatasetFactory(owner=member, organization=org)
    scoped = Dataset.objects.visible_to(member, organization=org)
    assert shared in scoped
    assert private not in scoped


def test_an_org_scope_the_user_does_not_belong_to_shows_nothing(member, other_org):
    DatasetFactory(owner=None, organization=other_org)
    assert not Dataset.objects.visible_to(member, organization=other_org).exists()


def test_a_former_member_loses_sight_of_org_objects(org, org_dataset):
    leaver = UserFactory()
    membership = MembershipFactory(user=leaver, organization=org, role=Role.MEMBER)
    assert org_dataset in Dataset.objects.visible_to(leaver)
    membership.delete()
    assert org_dataset not in Dataset.objects.visible_to(leaver)


# --- acting on what you can see: role allowlists ---


def test_viewer_may_view_but_not_change_or_run(org_dataset, viewer):
    assert can(viewer, "view", org_dataset)
    assert not can(viewer, "change", org_dataset)
    assert not can(viewer, "run", org_dataset)
    assert not can(viewer, "delete", org_dataset)


def test_member_may_change_and_run_but_not_delete_others_objects(org_dataset, member):
    assert can(member, "change", org_dataset)
    assert can(member, "run", org_dataset)
    assert not can(member, "delete", org_dataset)


def test_owner_role_may_delete_org_objects(org_dataset, owner):
    assert can(owner, "delete", org_dataset)


def test_the_individual_owner_may_delete_their_own_object_even_as_viewer(org, viewer):
    theirs = DatasetFactory(owner=viewer, organization=org)
    assert can(viewer, "delete", theirs)


def test_outsider_may_do_nothing_with_an_org_object(org_dataset, outsider):
    for action in ("view", "change", "run", "delete"):
        assert not can(outsider, action, org_dataset)


def test_only_owners_manage_members_and_budgets(org, owner, member, viewer):
    assert can(owner, "manage_members", organization=org)
    assert can(owner, "manage_budget", organization=org)
    for user in (member, viewer):
        assert not can(user, "manage_members", organization=org)
        assert not can(user, "manage_budget", organization=org)


def test_an_unknown_action_is_a_programming_error(org, owner):
    with pytest.raises(ValueError):
        can(owner, "launch_missiles", organization=org)


def test_allowlists_are_not_rank_comparisons():
    """A role that is 'higher' gets nothing it is not listed for."""
    from evalhub.permissions import ROLE_ALLOWLIST

    assert Role.VIEWER in ROLE_ALLOWLIST["export"]
    assert Role.MEMBER not in ROLE_ALLOWLIST["manage_keys"]


def test_a_dataset_without_owner_or_org_is_refused_by_the_database(db):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Dataset.objects.create(name="orphan", owner=None, organization=None)


def test_org_only_objects_exist_for_orgs_without_a_user(org):
    org_only = DatasetFactory(owner=None, organization=OrganizationFactory())
    assert org_only.is_org_only
