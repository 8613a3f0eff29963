"""The spectral verification lane (fingerprinting.verification): a catalog recording mixed 6 dB under
louder unrelated music is found by checking candidate alignments against the clip's spectrogram, and
unrelated music is not."""

from decimal import Decimal

import numpy as np
import pytest

from fingerprinting import engine, landmarks, verification
from fingerprinting import index as catalog_index
from fingerprinting import transforms as T
from fingerprinting.audio import ANALYSIS_SR, resample
from fingerprinting.services import clip_attribute
from tests.fingerprinting.conftest import SR, recording_audio, unrelated_audio
from tests.fingerprinting.test_clip_attribute import make_clip


def analysis(samples: np.ndarray) -> np.ndarray:
    return resample(samples, SR, ANALYSIS_SR)


def catalog_peaks(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The peaks a catalog index keeps of a recording (recovered from its landmark hashes)."""
    return landmarks.peaks_of_hashes(*landmarks.hashes(analysis(samples)))


def mixed_under(source: np.ndarray, start: float, seconds: float, masker_seed: int) -> np.ndarray:
    """`seconds` of `source` from `start`, 6 dB under unrelated music."""
    excerpt = source[int(start * SR) : int((start + seconds) * SR)]
    return T.mix(unrelated_audio(masker_seed, seconds), excerpt, -6.0)


def test_verify_finds_the_quiet_source_at_its_offset_and_not_at_another():
    source = recording_audio(3)
    peak_frames, peak_bins = catalog_peaks(source)
    clip = analysis(mixed_under(source, 11.0, 12.0, masker_seed=7))
    presence = verification.PresenceMap.of(landmarks.log_spectrogram(clip))
    offset = int(round(11.0 / landmarks.FRAME_SECONDS))

    runs = verification.verify(presence, 3, peak_frames, peak_bins, offset)
    assert runs, "the quiet source's peaks are present in the mix at its offset"
    longest = max(runs, key=lambda r: r.clip_end - r.clip_start)
    assert longest.clip_end - longest.clip_start >= 8.0
    assert longest.rec_start - longest.clip_start == pytest.approx(11.0, abs=0.05)
    assert longest.kappa >= 0.4 and longest.z >= verification.MIN_Z

    # Half a second off, or another recording at the same offset: nothing is present beyond chance.
    assert verification.verify(presence, 3, peak_frames, peak_bins, offset + 22) == []
    other_frames, other_bins = catalog_peaks(recording_audio(5))
    assert verification.verify(presence, 5, other_frames, other_bins, offset) == []


def test_candidates_keep_few_offsets_per_recording():
    per_recording = [landmarks.hashes(analysis(recording_audio(n))) for n in range(3)]
    index = landmarks.LandmarkIndex.build(per_recording)
    clip = analysis(recording_audio(1)[int(4.0 * SR) : int(16.0 * SR)])
    found = index.candidates(*landmarks.hashes(clip, 90), recordings=2, per_recording=2, min_votes=3)
    assert found[0][0] == 1
    assert found[0][1] == pytest.approx(round(4.0 / landmarks.FRAME_SECONDS), abs=1)
    assert len({r for r, _o, _v in found}) <= 2
    assert all(sum(r == rec for r, _o, _v in found) <= 2 for rec in range(3))
    assert [v for _r, _o, v in found] == sorted((v for _r, _o, v in found), reverse=True)


@pytest.mark.django_db
def test_recording_mixed_6db_under_unrelated_music_ranks_first_with_the_right_offset(
    label, partner, catalog, indexed
):
    index = catalog_index.open_current(label.pk)
    position = next(i for i, r in enumerate(index.recordings) if r["id"] == catalog[2].pk)
    samples = mixed_under(recording_audio(2), 9.0, 15.0, masker_seed=11)

    result = engine.attribute_samples(index, analysis(samples))
    assert result.shares[0].position == position
    assert result.shares[0].share >= 0.8
    runs = result.shares[0].evidence["verbatim"]["runs"]
    assert any(run["method"] == "spectral" for run in runs)
    for run in runs:
        assert run["rec_start"] - run["clip_start"] == pytest.approx(9.0, abs=0.5)
    assert all(s.share < 0.05 for s in result.shares[1:])

    # The stored attribution says the same, and names the lane in the evidence.
    attribution = clip_attribute(clip=make_clip(label, partner, samples, "under-6db"))
    top = attribution.shares.order_by("rank").first()
    assert top.recording_id == catalog[2].pk and top.lane in ("verbatim", "both")
    assert {run["method"] for run in top.evidence["verbatim"]["runs"]} >= {"spectral"}
    assert attribution.parameters["spectral"]["min_z"] == verification.MIN_Z


@pytest.mark.django_db
def test_unrelated_music_mixed_with_unrelated_music_gets_no_share(label, partner, catalog, indexed):
    index = catalog_index.open_current(label.pk)
    for seed in (3, 4):
        samples = T.mix(unrelated_audio(seed, 15.0), unrelated_audio(seed + 20, 15.0), -6.0)
        result = engine.attribute_samples(index, analysis(samples))
        assert all(s.share < 0.05 for s in result.shares)
        assert result.remainder >= 0.9
    attribution = clip_attribute(clip=make_clip(label, partner, samples, "two-unrelated"))
    assert all(s.share < Decimal("0.05") for s in attribution.shares.all())


def test_verify_finds_a_transposed_or_stretched_excerpt_only_with_its_transform():
    source = recording_audio(4)
    peak_frames, peak_bins = catalog_peaks(source)
    excerpt = source[int(6.0 * SR) : int(20.0 * SR)]
    offset = int(round(6.0 / landmarks.FRAME_SECONDS))

    up = verification.PresenceMap.of(landmarks.log_spectrogram(analysis(T.pitch_shift(excerpt, SR, 1.0))))
    runs = verification.verify(up, 4, peak_frames, peak_bins, offset, semitones=1.0)
    assert runs and max(r.clip_end - r.clip_start for r in runs) >= 8.0
    assert all(r.semitones == 1.0 and r.z >= verification.MIN_Z for r in runs)
    assert verification.verify(up, 4, peak_frames, peak_bins, offset) == []

    faster = verification.PresenceMap.of(landmarks.log_spectrogram(analysis(T.time_stretch(excerpt, 1.05))))
    runs = verification.verify(faster, 4, peak_frames, peak_bins, offset, tempo=1.05)
    longest = max(runs, key=lambda r: r.clip_end - r.clip_start)
    assert longest.clip_end - longest.clip_start >= 8.0
    # Clip time runs 5 % slower than recording time.
    assert longest.rec_start == pytest.approx(6.0 + 1.05 * longest.clip_start, abs=0.05)
    assert verification.verify(faster, 4, peak_frames, peak_bins, offset) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("edit", "tempo", "semitones"),
    [
        (lambda x: T.pitch_shift(x, SR, 1.0), 1.0, 1.0),
        (lambda x: T.pitch_shift(x, SR, -2.0), 1.0, -2.0),
        (lambda x: T.pitch_shift(x, SR, 0.5), 1.0, 0.5),
        (lambda x: T.time_stretch(x, 1.05), 1.05, 0.0),
        (lambda x: T.time_stretch(x, 0.9), 0.9, 0.0),
    ],
    ids=["pitch+1", "pitch-2", "pitch+0.5", "tempo+5", "tempo-10"],
)
def test_tempo_and_pitch_edits_are_found_as_verbatim_reuse(label, catalog, indexed, edit, tempo, semitones):
    index = catalog_index.open_current(label.pk)
    position = next(i for i, r in enumerate(index.recordings) if r["id"] == catalog[5].pk)
    samples = edit(recording_audio(5)[int(8.0 * SR) : int(23.0 * SR)])

    result = engine.attribute_samples(index, analysis(samples))
    top = result.shares[0]
    assert top.position == position
    assert top.lane in ("verbatim", "both") and top.share >= 0.8
    spectral = [run for run in top.evidence["verbatim"]["runs"] if run["method"] == "spectral"]
    assert spectral and all(run["tempo"] == tempo and run["semitones"] == semitones for run in spectral)
    assert all(s.share < 0.05 for s in result.shares[1:])
