"""GET /api/v1/training-manifest: licensed recordings per partner and label, consent-aware, with signed,
expiring, logged download URLs and explicit removals."""

import time
from datetime import date
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from catalog.consent import consent_set
from royalties.models import TrainingDownload
from tests.factories import PartyFactory, RecordingFactory, split_for
from tests.royalties.factories import deal

pytestmark = pytest.mark.django_db


def with_audio(label, n: int, party=None):
    recording = RecordingFactory(label=label)
    recording.audio.save(f"{recording.isrc}.wav", ContentFile(b"RIFF" + bytes([n]) * 64), save=False)
    recording.audio_sha256 = f"{n:064x}"
    recording.save()
    if party is not None:
        split_for(recording, {party: "1"})
    return recording


@pytest.fixture
def licensed(world):
    """Deals: label A with partner 1, label B with partner 2 (not A-2, not B-1)."""
    deal(world.a1.label, world.a1.partner)
    deal(world.b2.label, world.b2.partner)
    ann = PartyFactory(label=world.a1.label, name="Ann")
    a_recordings = [with_audio(world.a1.label, i, ann if i == 1 else None) for i in range(1, 4)]
    b_recordings = [with_audio(world.b2.label, i) for i in range(10, 12)]
    return ann, a_recordings, b_recordings


def manifest(cell, **params):
    response = cell.client().get("/api/v1/training-manifest", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_manifest_lists_licensed_recordings_with_id_hash_and_urls(world, licensed):
    ann, a_recordings, _ = licensed
    body = manifest(world.a1, date="2026-03-01")
    assert [r["isrc"] for r in body["results"]] == sorted(r.isrc for r in a_recordings)
    assert body["count"] == 3 and len(body["content_hash"]) == 64 and body["removed"] == []
    assert all(
        r["download_url"].startswith("http://testserver/api/v1/training-manifest/") for r in body["results"]
    )
    again = manifest(world.a1, date="2026-03-01")
    assert (again["manifest_id"], again["content_hash"]) == (body["manifest_id"], body["content_hash"])


def test_manifests_of_partners_and_labels_never_overlap_where_deals_do_not(world, licensed):
    _, a_recordings, b_recordings = licensed
    a1 = {r["isrc"] for r in manifest(world.a1)["results"]}
    b2 = {r["isrc"] for r in manifest(world.b2)["results"]}
    assert a1 == {r.isrc for r in a_recordings} and b2 == {r.isrc for r in b_recordings}
    assert manifest(world.a2)["results"] == [] and manifest(world.b1)["results"] == []
    assert not a1 & b2
    # A manifest id of another key is a 404, not a leak.
    other = manifest(world.b2)["manifest_id"]
    assert world.a1.client().get("/api/v1/training-manifest", {"manifest_id": other}).status_code == 404


def test_an_opt_out_from_a_date_leaves_the_next_manifest_as_an_explicit_removal(world, licensed):
    ann, a_recordings, _ = licensed
    before = manifest(world.a1, date="2026-03-01")
    consent_set(
        label=world.a1.label, party=ann, use="training", state="opt_out", effective_from=date(2026, 4, 1)
    )
    still = manifest(world.a1, date="2026-03-31")
    assert still["content_hash"] == before["content_hash"]
    after = manifest(world.a1, date="2026-04-01")
    assert a_recordings[0].isrc not in {r["isrc"] for r in after["results"]}
    assert after["removed"] == [
        {"isrc": a_recordings[0].isrc, "title": a_recordings[0].title, "reason": "consent_withdrawn"}
    ]
    assert after["previous_manifest_id"] is not None and after["manifest_id"] != before["manifest_id"]


def test_pages_walk_one_manifest(world, licensed):
    first = manifest(world.a1, limit=2)
    assert len(first["results"]) == 2 and first["next"]
    response = world.a1.client().get(first["next"])
    assert response.status_code == 200
    page2 = response.json()
    assert (
        page2["manifest_id"] == first["manifest_id"] and len(page2["results"]) == 1 and page2["next"] is None
    )


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_download_is_logged_and_its_url_expires(world, licensed, monkeypatch, settings):
    body = manifest(world.a1)
    url = _path(body["results"][0]["download_url"])
    response = APIClient().get(url)  # no key: the signature is the credential
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"RIFF")
    download = TrainingDownload.objects.get()
    assert (download.partner, download.manifest_id) == (world.a1.partner, body["manifest_id"])
    later = time.time() + settings.TRAINING_DOWNLOAD_URL_SECONDS + 1
    monkeypatch.setattr(signing.time, "time", lambda: later)
    expired = APIClient().get(url)
    assert expired.status_code == 410 and expired.json()["error"]["code"] == "download_link_expired"
    assert TrainingDownload.objects.count() == 1


def test_a_tampered_or_withdrawn_link_is_refused(world, licensed):
    ann, a_recordings, _ = licensed
    body = manifest(world.a1)
    url = _path(next(r["download_url"] for r in body["results"] if r["isrc"] == a_recordings[0].isrc))
    other = a_recordings[1].isrc
    tampered = APIClient().get(url.replace(a_recordings[0].isrc, other))
    assert tampered.status_code == 403 and tampered.json()["error"]["code"] == "download_link_invalid"
    consent_set(
        label=world.a1.label, party=ann, use="training", state="opt_out", effective_from=date(2020, 1, 1)
    )
    withdrawn = APIClient().get(url)
    assert withdrawn.status_code == 410 and withdrawn.json()["error"]["code"] == "recording_withdrawn"


def test_a_bad_date_is_a_400(world, licensed):
    response = world.a1.client().get("/api/v1/training-manifest", {"date": "2026-02-30"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


def test_the_label_previews_manifests_and_sees_who_downloaded_before_withdrawal(world, licensed, client):
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import member

    ann, a_recordings, b_recordings = licensed
    body = manifest(world.a1)
    url = _path(next(r["download_url"] for r in body["results"] if r["isrc"] == a_recordings[0].isrc))
    assert APIClient().get(url).status_code == 200
    client.force_login(member("rita", world.a1.label))
    preview = client.get("/royalties/training/").content.decode()
    assert a_recordings[0].isrc in preview and b_recordings[0].isrc not in preview
    tomorrow = timezone.localdate() + timedelta(days=1)
    consent_set(label=world.a1.label, party=ann, use="training", state="opt_out", effective_from=tomorrow)
    later = client.get(f"/royalties/training/?date={tomorrow}").content.decode()
    assert a_recordings[0].isrc not in later.split("Manifests issued")[0]
    TrainingDownload.objects.update(downloaded_at=timezone.now() - timedelta(days=10))
    consent_set(
        label=world.a1.label, recording=a_recordings[0], use="training", state="opt_out",
        effective_from=timezone.localdate() - timedelta(days=2),
    )  # fmt: skip
    page = client.get(f"/catalog/recordings/{a_recordings[0].pk}/").content.decode()
    assert "Training downloads" in page and world.a1.partner.name in page and "before withdrawal" in page


def test_a_clip_declares_only_a_voice_model_registered_for_the_key(world, audio):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from catalog.voice import voice_model_register

    singer = PartyFactory(label=world.a1.label, name="Sia")
    consent_set(
        label=world.a1.label, party=singer, use="voice", state="opt_in", effective_from=date(2026, 1, 1)
    )
    mine = voice_model_register(
        label=world.a1.label, party=singer, partner=world.a1.partner, name="Sia v1", pool_share="0.2",
        effective_from=date(2026, 1, 1),
    )  # fmt: skip
    theirs = voice_model_register(
        label=world.a1.label, party=singer, partner=world.a2.partner, name="Sia v1 (other)", pool_share="0.2",
        effective_from=date(2026, 1, 1),
    )  # fmt: skip

    def submit(external_id, model):
        upload = SimpleUploadedFile("a.wav", audio)
        return world.a1.client().post(
            "/api/v1/clips",
            {"audio": upload, "external_id": external_id, "voice_model": model.pk},
            format="multipart",
        )

    refused = submit("v-2", theirs)
    assert refused.status_code == 400 and refused.json()["error"]["fields"] == {
        "voice_model": [str(theirs.pk)]
    }
    accepted = submit("v-1", mine)
    assert accepted.status_code == 202 and accepted.json()["voice_model"] == mine.pk


def test_a_partner_reads_a_recording_consent_read_only_and_only_in_its_label(world, licensed):
    ann, a_recordings, b_recordings = licensed
    consent_set(
        label=world.a1.label, party=ann, use="training", state="opt_out", effective_from=date(2026, 4, 1)
    )
    client = world.a1.client()
    body = client.get("/api/v1/consent", {"isrc": a_recordings[0].isrc, "date": "2026-04-02"}).json()
    assert body["training"] == {"state": "opt_out", "since": "2026-04-01"} and body["licensed"] is True
    assert body["conditioning"] == {"state": "opt_in", "since": None}
    assert client.get("/api/v1/consent", {"isrc": b_recordings[0].isrc}).status_code == 404
    assert client.get("/api/v1/consent", {"isrc": "nope"}).status_code == 400
    assert client.post("/api/v1/consent", {"isrc": a_recordings[0].isrc}).status_code == 405
    assert (
        world.a2.client().get("/api/v1/consent", {"isrc": a_recordings[0].isrc}).json()["licensed"] is False
    )
