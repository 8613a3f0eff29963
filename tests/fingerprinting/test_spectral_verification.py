"""The spectral lane (fingerprinting.engine.spectral): a catalog recording mixed 6 dB under louder
unrelated music is found by checking candidate alignments against the clip's spectrogram, and
unrelated music is not; over the transform grid, tempo and pitch edits are found with their transform."""

from decimal import Decimal

import numpy as np
import pytest

from demo import transforms as T
from fingerprinting import engine
from fingerprinting import index as catalog_index
from fingerprinting.engine import landmarks, spectral
from fingerprinting.engine.runs import IDENTITY, Transform
from fingerprinting.engine.signal import ANALYSIS_SR, FRAME_SECONDS, log_spectrogram, resample
from fingerprinting.engine.signal import spectral_peaks as _spectral_peaks
from fingerprinting.engine.votes import best_alignments
from fingerprinting.services import clip_attribute
from tests.fingerprinting.conftest import SR, recording_audio, unrelated_audio
from tests.fingerprinting.test_clip_attribute import make_clip


def analysis(samples: np.ndarray) -> np.ndarray:
    return resample(samples, SR, ANALYSIS_SR)


CONFIG = engine.DEFAULT_CONFIG


def catalog_peaks(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The peaks a catalog index keeps of a recording (recovered from its landmark hashes)."""
    return landmarks.peaks_of_hashes(
        *landmarks.catalog_hashes(log_spectrogram(analysis(samples)), CONFIG.landmark)
    )


def presence(samples: np.ndarray) -> spectral.PresenceMap:
    return spectral.PresenceMap.of(log_spectrogram(analysis(samples)), CONFIG.spectral)


def verify(presence_map, recording, frames, bins, offset, transform=IDENTITY):
    return spectral.verify(presence_map, recording, frames, bins, offset, CONFIG.spectral, transform)


def mixed_under(source: np.ndarray, start: float, seconds: float, masker_seed: int) -> np.ndarray:
    """`seconds` of `source` from `start`, 6 dB under unrelated music."""
    excerpt = source[int(start * SR) : int((start + seconds) * SR)]
    return T.mix(unrelated_audio(masker_seed, seconds), excerpt, -6.0)


def test_verify_finds_the_quiet_source_at_its_offset_and_not_at_another():
    source = recording_audio(3)
    peak_frames, peak_bins = catalog_peaks(source)
    mix = presence(mixed_under(source, 11.0, 12.0, masker_seed=7))
    offset = int(round(11.0 / FRAME_SECONDS))

    runs = verify(mix, 3, peak_frames, peak_bins, offset)
    assert runs, "the quiet source's peaks are present in the mix at its offset"
    longest = max(runs, key=lambda r: r.seconds)
    assert longest.seconds >= 8.0
    assert longest.rec_start - longest.clip_start == pytest.approx(11.0, abs=0.05)
    assert longest.detail["kappa"] >= 0.4 and longest.score >= 5.0

    # Half a second off, or another recording at the same offset: nothing is present beyond chance.
    assert verify(mix, 3, peak_frames, peak_bins, offset + 22) == []
    other_frames, other_bins = catalog_peaks(recording_audio(5))
    assert verify(mix, 5, other_frames, other_bins, offset) == []


def test_candidates_keep_few_offsets_per_recording():
    per_recording = [
        landmarks.catalog_hashes(log_spectrogram(analysis(recording_audio(n))), CONFIG.landmark)
        for n in range(3)
    ]
    index = landmarks.LandmarkIndex.build(per_recording)
    log = log_spectrogram(analysis(recording_audio(1)[int(4.0 * SR) : int(16.0 * SR)]))
    lm = CONFIG.landmark
    peaks = spectral.select_clip_peaks(_spectral_peaks(log, (lm.peak_frames, lm.peak_bins)), CONFIG.spectral)
    votes = index.votes(*landmarks.pair_hashes(*peaks, CONFIG.landmark), CONFIG.landmark.max_postings)
    found = best_alignments(votes, min_votes=3, max_recordings=2, per_recording=2, scan=4000)
    assert found[0][0] == 1
    assert found[0][1] == pytest.approx(round(4.0 / FRAME_SECONDS), abs=1)
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

    result = engine.attribute(index, analysis(samples))
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
    assert attribution.parameters == CONFIG.as_dict()
    assert all(
        run["false_alarm"] <= CONFIG.evidence.max_false_alarm for run in top.evidence["verbatim"]["runs"]
    )


@pytest.mark.django_db
def test_unrelated_music_mixed_with_unrelated_music_gets_no_share(label, partner, catalog, indexed):
    index = catalog_index.open_current(label.pk)
    for seed in (3, 4):
        samples = T.mix(unrelated_audio(seed, 15.0), unrelated_audio(seed + 20, 15.0), -6.0)
        result = engine.attribute(index, analysis(samples))
        assert all(s.share < 0.05 for s in result.shares)
        assert result.remainder >= 0.9
    attribution = clip_attribute(clip=make_clip(label, partner, samples, "two-unrelated"))
    assert all(s.share < Decimal("0.05") for s in attribution.shares.all())


def test_verify_finds_a_transposed_or_stretched_excerpt_only_with_its_transform():
    source = recording_audio(4)
    peak_frames, peak_bins = catalog_peaks(source)
    excerpt = source[int(6.0 * SR) : int(20.0 * SR)]
    offset = int(round(6.0 / FRAME_SECONDS))

    up = presence(T.pitch_shift(excerpt, SR, 1.0))
    runs = verify(up, 4, peak_frames, peak_bins, offset, Transform(semitones=1.0))
    assert runs and max(r.seconds for r in runs) >= 8.0
    assert all(r.transform.semitones == 1.0 and r.score >= 5.0 for r in runs)
    assert verify(up, 4, peak_frames, peak_bins, offset) == []

    faster = presence(T.time_stretch(excerpt, 1.05))
    runs = verify(faster, 4, peak_frames, peak_bins, offset, Transform(tempo=1.05))
    longest = max(runs, key=lambda r: r.seconds)
    assert longest.seconds >= 8.0
    # Clip time runs 5 % slower than recording time.
    assert longest.rec_start == pytest.approx(6.0 + 1.05 * longest.clip_start, abs=0.05)
    assert verify(faster, 4, peak_frames, peak_bins, offset) == []


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

    result = engine.attribute(index, analysis(samples))
    top = result.shares[0]
    assert top.position == position
    assert top.lane in ("verbatim", "both") and top.share >= 0.8
    spectral = [run for run in top.evidence["verbatim"]["runs"] if run["method"] == "spectral_grid"]
    assert spectral and all(run["tempo"] == tempo and run["semitones"] == semitones for run in spectral)
    assert all(s.share < 0.05 for s in result.shares[1:])
