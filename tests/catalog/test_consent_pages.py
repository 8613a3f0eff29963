"""Consent on the web: the recording panel, the party page and the label defaults (Bob must not reach
Alice's label)."""

import pytest
from django.urls import reverse

from catalog.models import Consent, Role
from tests.factories import LabelFactory, PartyFactory, RecordingFactory, member, split_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client):
    label = LabelFactory(name="Northgate")
    alice = member("alice", label)
    party = PartyFactory(label=label, name="Ann")
    recording = RecordingFactory(label=label)
    split_for(recording, {party: "1"})
    client.force_login(alice)
    return label, party, recording


def test_a_rights_manager_opts_a_recording_out_from_its_page(client, setup):
    label, party, recording = setup
    response = client.post(
        reverse("catalog:recording-consent-add", args=[recording.pk]),
        {"use": "training", "state": "opt_out", "effective_from": "2026-01-01", "reason": "artist asked"},
        follow=True,
    )
    assert response.status_code == 200
    consent = Consent.objects.get()
    assert (consent.recording, consent.state, consent.reason) == (recording, "opt_out", "artist asked")
    page = client.get(reverse("catalog:recording-detail", args=[recording.pk])).content.decode()
    assert "Opted out" in page and "artist asked" in page and "Record a consent change" in page


def test_a_back_dated_change_is_explained_not_saved(client, setup):
    label, party, recording = setup
    url = reverse("catalog:party-detail", args=[party.pk])
    client.post(url, {"use": "voice", "state": "opt_in", "effective_from": "2026-02-01"})
    response = client.post(
        url, {"use": "voice", "state": "opt_out", "effective_from": "2026-01-01"}, follow=True
    )
    assert "never changed retroactively" in response.content.decode()
    assert Consent.objects.count() == 1
    bad = client.post(url, {"use": "voice", "state": "opt_out", "effective_from": "soon"}, follow=True)
    assert "must be a date" in bad.content.decode()


def test_label_defaults_page(client, setup):
    response = client.post(
        reverse("catalog:label-consent"),
        {"use": "training", "state": "opt_out", "effective_from": "2026-03-01"},
    )
    assert response.status_code == 302
    assert Consent.objects.get().scope == "label"
    assert "Training" in client.get(reverse("catalog:label-consent")).content.decode()


def test_a_viewer_cannot_change_consent_and_another_label_is_a_404(client, setup):
    label, party, recording = setup
    viewer = member("vic", label, Role.VIEWER)
    client.force_login(viewer)
    url = reverse("catalog:recording-consent-add", args=[recording.pk])
    assert (
        client.post(url, {"use": "training", "state": "opt_out", "effective_from": "2026-01-01"}).status_code
        == 403
    )
    bob = member("bob", LabelFactory(name="Elsewhere"))
    client.force_login(bob)
    assert client.get(reverse("catalog:party-detail", args=[party.pk])).status_code == 404
    assert (
        client.post(url, {"use": "training", "state": "opt_out", "effective_from": "2026-01-01"}).status_code
        == 404
    )
    assert not Consent.objects.exists()


def test_a_voice_model_is_registered_from_the_party_page_only_with_voice_consent(client, setup):
    from catalog.models import VoiceModel
    from tests.factories import PartnerFactory

    label, party, recording = setup
    partner = PartnerFactory(name="Melodia AI")
    url = reverse("catalog:party-detail", args=[party.pk])
    form = {
        "form": "voice_model",
        "name": "Ann v1",
        "partner": partner.pk,
        "pool_share": "0.2",
        "effective_from": "2026-02-01",
    }
    refused = client.post(url, form, follow=True).content.decode()
    assert "has not consented to a voice model" in refused and not VoiceModel.objects.exists()
    client.post(url, {"use": "voice", "state": "opt_in", "effective_from": "2026-01-01"})
    page = client.post(url, form, follow=True).content.decode()
    assert "Voice model Ann v1 registered" in page and "Melodia AI" in page
    assert VoiceModel.objects.get().party == party
