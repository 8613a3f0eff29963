import pytest

from fingerprinting import events
from fingerprinting.errors import ClipExists, UndecodableAudio, UnsupportedAudio
from fingerprinting.models import Clip, ClipStatus
from fingerprinting.services import clip_submit
from tests.factories import LabelFactory, PartnerFactory
from tests.fingerprinting.audio_helpers import piece, upload, wav_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def label_partner():
    return LabelFactory(slug="submit-label"), PartnerFactory(slug="submit-partner")


def test_submit_stores_a_queued_clip_and_queues_attribution_after_commit(
    label_partner, django_capture_on_commit_callbacks, monkeypatch
):
    label, partner = label_partner
    queued = []
    monkeypatch.setattr("fingerprinting.tasks.clip_attribute_task.delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        clip = clip_submit(
            label=label,
            partner=partner,
            audio=upload(wav_bytes(piece(1, 4.0))),
            external_id="gen-1",
            declared_references=["QZ-S7M-26-00001"],
        )
        assert queued == []  # never before the commit
    assert queued == [clip.pk]
    clip.refresh_from_db()
    assert clip.status == ClipStatus.QUEUED
    assert clip.audio_format == "wav"
    assert clip.duration_seconds == pytest.approx(4.0, abs=0.01)
    assert clip.declared_references == ["QZS7M2600001"]
    assert len(clip.audio_sha256) == 64


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"%PDF-1.7 this is not audio at all" * 10, UnsupportedAudio),
        (b"", UnsupportedAudio),
        (wav_bytes(piece(2, 3.0))[:5000], UndecodableAudio),
        (b"fLaC" + b"\x00" * 300, UndecodableAudio),
    ],
)
def test_submit_refuses_non_audio_and_corrupt_audio(label_partner, data, error):
    label, partner = label_partner
    with pytest.raises(error) as caught:
        clip_submit(label=label, partner=partner, audio=upload(data), external_id="bad")
    assert caught.value.http_status in (415, 422)
    assert not Clip.objects.exists()


def test_same_bytes_twice_is_a_safe_retry_and_other_bytes_conflict(label_partner, monkeypatch):
    label, partner = label_partner
    monkeypatch.setattr("fingerprinting.tasks.clip_attribute_task.delay", lambda clip_id: None)
    data = wav_bytes(piece(3, 3.5))
    first = clip_submit(label=label, partner=partner, audio=upload(data), external_id="x")
    again = clip_submit(label=label, partner=partner, audio=upload(data), external_id="x")
    assert again.pk == first.pk
    with pytest.raises(ClipExists):
        clip_submit(label=label, partner=partner, audio=upload(wav_bytes(piece(4, 3.5))), external_id="x")


def test_published_events_reach_handlers_only_after_commit(label_partner, django_capture_on_commit_callbacks):
    label, partner = label_partner
    seen = []

    def handler(event_type, *, clip, attribution):
        seen.append((event_type, clip.pk, attribution))

    events.subscribe(handler)
    events.subscribe(handler)  # idempotent
    try:
        clip = Clip.objects.create(label=label, partner=partner, external_id="e", audio="x.wav")
        with django_capture_on_commit_callbacks(execute=True):
            events.publish(events.CLIP_REJECTED, clip=clip, attribution=None)
            assert seen == []
        assert seen == [("clip.rejected", clip.pk, None)]
        with pytest.raises(ValueError):
            events.publish("clip.exploded", clip=clip, attribution=None)
    finally:
        events.unsubscribe(handler)


def test_a_clip_that_is_not_inserted_leaves_no_audio_file(label_partner, monkeypatch, settings):
    """A lost insert race (the unique external id) or any failed insert removes the file it wrote."""
    from django.db import IntegrityError

    label, partner = label_partner

    def lost_the_race(self, *args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(Clip, "save", lost_the_race)
    with pytest.raises(ClipExists):
        clip_submit(label=label, partner=partner, audio=upload(wav_bytes(piece(1, 4.0))), external_id="gen-1")

    monkeypatch.setattr(Clip, "save", lambda self, *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        clip_submit(label=label, partner=partner, audio=upload(wav_bytes(piece(1, 4.0))), external_id="gen-2")

    assert [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()] == []
