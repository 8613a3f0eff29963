import numpy as np
import pytest

from fingerprinting.audio import ANALYSIS_SR, check_usable, decode, sniff_format
from fingerprinting.errors import AudioRejected
from fingerprinting.models import Clip, ClipStatus
from fingerprinting.services import clip_attribute
from tests.fingerprinting.audio_helpers import piece, wav_bytes

pytestmark = pytest.mark.django_db


def _clip(label, partner, data: bytes, name: str = "x.wav") -> Clip:
    from django.core.files.base import ContentFile

    clip = Clip(label=label, partner=partner, external_id=name, status=ClipStatus.QUEUED)
    clip.audio.save(name, ContentFile(data), save=True)
    return clip


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: wav_bytes(piece(1, 1.5)), "too_short"),
        (lambda: wav_bytes(np.zeros(0, dtype=np.float32)), "empty"),
        (lambda: wav_bytes(np.zeros(22050 * 5, dtype=np.float32)), "silent"),
        (lambda: wav_bytes(piece(2, 8.0)), "too_long"),  # CLIP_MAX_SECONDS is 6 in this test
        (lambda: b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40, "undecodable"),
    ],
)
def test_processing_rejects_unusable_audio_with_a_reason(
    label, partner, settings, make, code, django_capture_on_commit_callbacks
):
    settings.CLIP_MAX_SECONDS = 6.0
    clip = _clip(label, partner, make(), name=f"{code}.bin")
    seen = []
    from fingerprinting import events

    def handler(event_type, *, clip, attribution):
        seen.append(event_type)

    events.subscribe(handler)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert clip_attribute(clip=clip) is None
    finally:
        events.unsubscribe(handler)
    clip.refresh_from_db()
    assert clip.status == ClipStatus.REJECTED
    assert clip.reject_code == code
    assert clip.reject_message
    assert seen == ["clip.rejected"]
    # A rejected clip is done: running again changes nothing.
    assert clip_attribute(clip=clip) is None


def test_decode_downmixes_and_resamples(tmp_path):
    import soundfile

    stereo = np.stack([piece(3, 4.0), piece(4, 4.0)], axis=1)
    path = tmp_path / "stereo.flac"
    soundfile.write(path, stereo, 22050, format="FLAC")
    samples = decode(path)
    assert samples.ndim == 1
    assert abs(len(samples) / ANALYSIS_SR - 4.0) < 0.01


def test_decode_reads_mp3_and_ogg(tmp_path):
    import soundfile

    for fmt, subtype, suffix in (("MP3", "MPEG_LAYER_III", "mp3"), ("OGG", "VORBIS", "ogg")):
        path = tmp_path / f"clip.{suffix}"
        soundfile.write(path, piece(5, 4.0), 22050, format=fmt, subtype=subtype)
        assert sniff_format(path.read_bytes()[:256]) in ("mp3", "ogg")
        samples = decode(path)
        assert abs(len(samples) / ANALYSIS_SR - 4.0) < 0.2


def test_check_usable_accepts_ordinary_music():
    check_usable(piece(6, 5.0)[::2], sr=ANALYSIS_SR, min_seconds=3.0, max_seconds=600.0)
    with pytest.raises(AudioRejected):
        check_usable(
            np.zeros(ANALYSIS_SR * 4, np.float32), sr=ANALYSIS_SR, min_seconds=3.0, max_seconds=600.0
        )
