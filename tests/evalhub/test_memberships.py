import pytest

from evalhub.errors import InvalidInput, PermissionDenied
from evalhub.models import Membership, Role
from evalhub.services import membership_remove, membership_set
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_owner_adds_a_member_with_a_role(org, owner):
    newcomer = UserFactory()
    membership = membership_set(actor=owner, organization=org, user=newcomer, role="viewer")
    assert membership.role == Role.VIEWER


def test_member_cannot_manage_members(org, member):
    with pytest.raises(PermissionDenied):
        membership_set(actor=member, organization=org, user=UserFactory(), role="member")


def test_the_last_owner_cannot_be_demoted_or_removed(org, owner):
    with pytest.raises(InvalidInput):
        membership_set(actor=owner, organization=org, user=owner, role="member")
    with pytest.raises(InvalidInput):
        membership_remove(actor=owner, membership=Membership.objects.get(user=owner))
    assert Membership.objects.get(user=owner).role == Role.OWNER


def test_an_unknown_role_names_the_field(org, owner):
    with pytest.raises(InvalidInput) as err:
        membership_set(actor=owner, organization=org, user=UserFactory(), role="admin")
    assert err.value.field == "role"
