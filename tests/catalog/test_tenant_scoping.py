"""Alice works for label A, Bob for label B: neither ever sees the other's catalog."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from catalog.models import Recording, Role
from tests.factories import LabelFactory, PartyFactory, RecordingFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    label_a, label_b = LabelFactory(name="Label A"), LabelFactory(name="Label B")
    alice, bob = member("alice", label_a), member("bob", label_b)
    rec_a = RecordingFactory(label=label_a, title="Alpha Song")
    rec_b = RecordingFactory(label=label_b, title="Bravo Song")
    return {"alice": alice, "bob": bob, "a": label_a, "b": label_b, "rec_a": rec_a, "rec_b": rec_b}


def test_recording_page_of_another_label_is_404(client, world):
    client.force_login(world["alice"])
    assert client.get(reverse("catalog:recording-detail", args=[world["rec_a"].pk])).status_code == 200
    assert client.get(reverse("catalog:recording-detail", args=[world["rec_b"].pk])).status_code == 404


def test_recording_list_shows_only_own_label(client, world):
    client.force_login(world["bob"])
    body = client.get(reverse("catalog:recording-list")).content.decode()
    assert "Bravo Song" in body and "Alpha Song" not in body
    body = client.get(reverse("catalog:recording-list"), {"q": world["rec_a"].isrc}).content.decode()
    assert "Alpha Song" not in body


def test_cannot_switch_to_a_label_one_is_not_member_of(client, world):
    client.force_login(world["alice"])
    response = client.post(reverse("catalog:label-switch"), {"label": world["b"].pk})
    assert response.status_code == 404


def test_label_switcher_changes_the_scope(client, world):
    from catalog.models import Membership

    Membership.objects.create(user=world["alice"], label=world["b"], role=Role.VIEWER)
    client.force_login(world["alice"])
    client.post(reverse("catalog:label-switch"), {"label": world["b"].pk, "next": "https://evil.example/"})
    assert client.get(reverse("catalog:recording-detail", args=[world["rec_b"].pk])).status_code == 200
    assert client.get(reverse("catalog:recording-detail", args=[world["rec_a"].pk])).status_code == 404


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(reverse("catalog:recording-list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_admin_is_scoped_to_own_labels(client, world):
    alice = world["alice"]
    alice.is_staff = True
    alice.save()
    alice.user_permissions.set(
        Permission.objects.filter(codename__in=["view_recording", "change_recording", "view_party"])
    )
    PartyFactory(label=world["b"], name="Bob's Party")
    client.force_login(alice)
    listing = client.get(reverse("admin:catalog_recording_changelist")).content.decode()
    assert "Alpha Song" in listing and "Bravo Song" not in listing
    own = client.get(reverse("admin:catalog_recording_change", args=[world["rec_a"].pk]))
    assert own.status_code == 200
    other = client.get(reverse("admin:catalog_recording_change", args=[world["rec_b"].pk]))
    # Django admin answers an object outside the queryset with a redirect to the index and a message.
    assert other.status_code in (302, 404)
    assert "Bob's Party" not in client.get(reverse("admin:catalog_party_changelist")).content.decode()


def test_queryset_scoping_helper(world):
    assert list(Recording.objects.for_user(world["alice"])) == [world["rec_a"]]
    assert list(Recording.objects.for_user(world["bob"])) == [world["rec_b"]]
