"""A typo in the split form must not create a party that then earns royalties: a name the label does not
have is confirmed first, with the label's near matches (edit distance) offered instead."""

import pytest
from django.urls import reverse

from catalog.errors import SplitNewPartyUnconfirmed
from catalog.models import AuditEvent, Party, Role
from catalog.services import SplitFormRow, party_near_matches, split_version_add
from tests.factories import LabelFactory, PartyFactory, RecordingFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting():
    label = LabelFactory()
    recording = RecordingFactory(label=label, title="Glass Tide")
    PartyFactory(label=label, name="Ines Okafor")
    PartyFactory(label=label, name="Tidewater Publishing")
    PartyFactory(label=label, name="Bob")
    PartyFactory(label=LabelFactory(), name="Ines Okafr")  # another label's: never offered
    return label, recording


def test_near_matches_by_edit_distance_within_the_label(setting):
    label, _ = setting
    assert [p.name for p in party_near_matches(label=label, name="Ines Okafr")] == ["Ines Okafor"]
    assert [p.name for p in party_near_matches(label=label, name="ines okafor")] == ["Ines Okafor"]
    assert party_near_matches(label=label, name="Completely Different") == []


def test_service_refuses_an_unconfirmed_new_party_and_writes_nothing(setting):
    label, recording = setting
    rows = [SplitFormRow("Ines Okafr", "0.6"), SplitFormRow("Bob", "0.4")]
    with pytest.raises(SplitNewPartyUnconfirmed) as refused:
        split_version_add(recording=recording, right_type="master", effective_from=recording.created_at.date(),
                          rows=rows, created_by=None)  # fmt: skip
    assert refused.value.fields["new_parties"] == {"Ines Okafr": ["Ines Okafor"]}
    assert not recording.splits.exists() and not Party.objects.filter(label=label, name="Ines Okafr").exists()


def test_typo_is_caught_and_the_near_match_is_used(client, setting):
    label, recording = setting
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    url = reverse("catalog:recording-split-add", args=[recording.pk])
    form = {"right_type": "master", "effective_from": "2026-01-01", "party_0": "Ines Okafr", "share_0": "0.6",
            "party_1": "Bob", "share_1": "0.4"}  # fmt: skip
    page = client.post(url, form)
    body = page.content.decode()
    assert page.status_code == 409 and "Ines Okafor" in body and "create a new party named" in body
    assert not recording.splits.exists()
    client.post(url, form | {"resolve_0": "Ines Okafor"})
    shares = {s.party.name: str(s.share) for s in recording.splits.get().shares.all()}
    assert shares == {"Ines Okafor": "0.600000", "Bob": "0.400000"}
    assert not Party.objects.filter(label=label, name="Ines Okafr").exists()


def test_a_confirmed_new_party_is_created_and_audited(client, setting):
    label, recording = setting
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    url = reverse("catalog:recording-split-add", args=[recording.pk])
    form = {"right_type": "master", "effective_from": "2026-01-01", "party_0": "Marta Quinn", "share_0": "1",
            "resolve_0": "__new__"}  # fmt: skip
    response = client.post(url, form, follow=True)
    assert "new party Marta Quinn" in response.content.decode()
    assert Party.objects.filter(label=label, name="Marta Quinn").count() == 1
    assert AuditEvent.objects.filter(label=label, action="party.created").exists()
