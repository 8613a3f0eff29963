"""A new label's way in without the Django admin: label_create and user_invite commands, the members page
(invite, roles, remove), the invitation link, and the first-run page of an empty label."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from catalog.errors import MemberInvalid
from catalog.models import AuditEvent, Label, Membership, Role
from catalog.services import member_invite, member_remove, member_role_set
from tests.factories import LabelFactory, RecordingFactory, member

pytestmark = pytest.mark.django_db


def link_path(text: str) -> str:
    return re.search(r"(/catalog/invite/[^/\s]+/[^/\s]+/)", text).group(1)


def test_label_create_and_user_invite_commands_then_sign_in(client):
    out = StringIO()
    call_command("label_create", "--name", "North Records", "--slug", "north", "--currency", "usd",
                 "--admin-email", "ada@example.org", stdout=out)  # fmt: skip
    label = Label.objects.get(slug="north")
    assert label.default_currency == "USD" and "set a password at http://" in out.getvalue()
    ada = Membership.objects.get(label=label).user
    assert ada.email == "ada@example.org" and not ada.has_usable_password()
    page = client.get(link_path(out.getvalue()))
    assert page.status_code == 200 and "Welcome, ada@example.org" in page.content.decode()
    client.post(
        link_path(out.getvalue()), {"new_password1": "a long pass 123", "new_password2": "a long pass 123"}
    )
    assert client.get(link_path(out.getvalue())).status_code == 400  # used: it stops working
    ada.refresh_from_db()
    assert ada.check_password("a long pass 123")  # signing in through the page: tests/browser

    out = StringIO()
    call_command("user_invite", "--label", "north", "--email", "rita@example.org", "--role", "rights_manager",
                 stdout=out)  # fmt: skip
    assert Membership.objects.get(user__email="rita@example.org").role == Role.RIGHTS_MANAGER
    with pytest.raises(CommandError, match="already a member"):
        call_command("user_invite", "--label", "north", "--email", "rita@example.org", stdout=StringIO())
    with pytest.raises(CommandError, match="exists already"):
        call_command("label_create", "--name", "Again", "--slug", "north", stdout=StringIO())
    with pytest.raises(CommandError, match="no label"):
        call_command("user_invite", "--label", "nowhere", "--email", "x@example.org", stdout=StringIO())


def test_admin_invites_changes_roles_and_removes_on_the_members_page(client):
    label = LabelFactory(name="North")
    client.force_login(member("ada", label, Role.ADMIN))
    page = client.post(reverse("catalog:member-list"), {"email": "vic@example.org", "role": "viewer"})
    body = page.content.decode()
    assert "vic@example.org" in body and "/catalog/invite/" in body
    vic = Membership.objects.get(label=label, user__email="vic@example.org")
    client.post(reverse("catalog:member-role", args=[vic.pk]), {"role": "rights_manager"})
    vic.refresh_from_db()
    assert vic.role == Role.RIGHTS_MANAGER
    client.post(reverse("catalog:member-remove", args=[vic.pk]))
    assert not Membership.objects.filter(pk=vic.pk).exists()
    actions = set(AuditEvent.objects.filter(label=label).values_list("action", flat=True))
    assert {"member.invited", "member.role_changed", "member.removed"} <= actions
    bad = client.post(reverse("catalog:member-list"), {"email": "not-an-address", "role": "viewer"}).content
    assert b"not an e-mail address" in bad


def test_members_page_is_for_admins_of_the_label_only(client):
    label, other = LabelFactory(), LabelFactory()
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    assert client.get(reverse("catalog:member-list")).status_code == 403
    stranger = Membership.objects.create(user=member("x", other, Role.VIEWER), label=label, role=Role.VIEWER)
    client.force_login(member("ada", other, Role.ADMIN))
    theirs = Membership.objects.get(user__username="rita")
    assert client.post(reverse("catalog:member-remove", args=[theirs.pk])).status_code == 404
    assert Membership.objects.filter(pk=stranger.pk).exists()


def test_a_label_keeps_one_admin():
    label = LabelFactory()
    ada = Membership.objects.get(user=member("ada", label, Role.ADMIN))
    with pytest.raises(MemberInvalid):
        member_role_set(membership=ada, role=Role.VIEWER, actor=None)
    with pytest.raises(MemberInvalid):
        member_remove(membership=ada, actor=None)
    with pytest.raises(MemberInvalid):
        member_invite(label=label, email="x@example.org", role="owner")


def test_bad_invitation_link_is_a_clear_400(client):
    assert client.get("/catalog/invite/zz/nope/").status_code == 400


def test_an_empty_label_gets_the_first_run_page(client):
    label = LabelFactory(name="Brand New")
    client.force_login(member("ada", label, Role.ADMIN))
    page = client.get(reverse("royalties:dashboard")).content.decode()
    assert "has no recordings yet" in page and reverse("catalog:import-start") in page
    RecordingFactory(label=label)
    assert "has no recordings yet" not in client.get(reverse("royalties:dashboard")).content.decode()
