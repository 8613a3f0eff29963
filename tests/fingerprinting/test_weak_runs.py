"""Weak spectral runs (fingerprinting.engine.spectral, explain.weak_where_unexplained): a recording that
shows only a fifth to a third of its peaks beyond chance (a source deep under louder uncatalogued
music) gives a run marked weak, and a weak run counts only over clip time that no full-strength run
of another recording that shares its material explains (there it is as likely to be that material);
beside a recording it shares nothing with, it is the quieter partner of a mix."""

from types import SimpleNamespace

import numpy as np

from fingerprinting import engine
from fingerprinting.engine import calibration, explain, spectral
from fingerprinting.engine.runs import Run, Transform
from fingerprinting.engine.signal import FRAME_SECONDS, LOW_BIN

CONFIG = engine.DEFAULT_CONFIG.spectral
FRAMES, BINS = 1000, 400  # 23 s of spectrogram


def recording_peaks(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A recording's catalog peaks: one every 5 frames over the clip (17 in the 2 s kappa window), at
    random bins."""
    rng = np.random.default_rng(seed)
    frames = np.arange(0, FRAMES, 5)
    bins = rng.integers(20, BINS - 20, len(frames)) + LOW_BIN
    return frames.astype(np.int32), bins.astype(np.int32)


def clip_showing(fraction: float, seed: int = 0) -> spectral.PresenceMap:
    """A clip whose presence map holds `fraction` of the recording's peaks (at offset 0, evenly spread)
    on a random background of 10 % of positions present: kappa about `fraction`."""
    rng = np.random.default_rng(seed + 100)
    present = rng.random((FRAMES, BINS)) < 0.10
    frames, bins = recording_peaks(seed)
    i = np.arange(len(frames))
    shown = np.floor((i + 1) * fraction) > np.floor(i * fraction)
    present[frames, bins - LOW_BIN] = shown | present[frames, bins - LOW_BIN]
    return spectral.PresenceMap.of_present(present)


def runs_at(fraction: float) -> list[Run]:
    return spectral.verify(clip_showing(fraction), 7, *recording_peaks(0), 0, CONFIG)


def test_a_recording_showing_most_of_its_peaks_gives_a_full_run():
    runs = runs_at(0.7)
    assert runs and not any(spectral.is_weak(r) for r in runs)
    assert all(r.detail["kappa"] >= CONFIG.min_kappa for r in runs)


def test_a_recording_showing_a_quarter_of_its_peaks_gives_a_weak_run():
    runs = runs_at(0.25)
    assert runs and all(spectral.is_weak(r) for r in runs)
    assert all(CONFIG.weak_kappa <= r.detail["kappa"] < CONFIG.min_kappa for r in runs)
    assert runs[0].as_evidence()["weak"] is True


def test_a_transformed_copy_must_show_in_full():
    """The transform grid looks for a transformed copy (tempo, pitch), which shows in full; weak runs
    are for a source under louder music, without a transform."""
    frames, bins = recording_peaks(0)
    up = Transform(tempo=1.0, semitones=0.5)
    source = np.round(bins / 2.0 ** (0.5 / 12)).astype(np.int32)  # transposed up, these land on `bins`
    landing = spectral.mapped_peaks(frames, source, 0, up)[1]
    assert np.abs(landing - bins).max() <= 1
    source = source + (bins - landing)  # exactly on the shown positions
    assert spectral.verify(clip_showing(0.7), 7, frames, source, 0, CONFIG, up)  # in full: found
    assert spectral.verify(clip_showing(0.25), 7, frames, source, 0, CONFIG, up) == []


def test_a_recording_showing_little_beyond_chance_gives_no_run():
    assert runs_at(0.05) == []


def run(recording: int, start: float, end: float, *, weak: bool, lane: str = "spectral") -> Run:
    """A run of `recording` over clip seconds [start, end), 30 s into the recording."""
    return Run(
        lane=lane,
        recording=recording,
        clip_start=start,
        clip_end=end,
        rec_start=start + 30.0,
        rec_end=end + 30.0,
        score=8.0,
        strength=0.25 if weak else 0.6,
        false_alarm=1e-4,
        detail={"kappa": 0.25 if weak else 0.6, "weak": weak},
    )


def catalog(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Catalog peaks over a recording's first 60 s: one every 5 frames, at random bins."""
    rng = np.random.default_rng(seed)
    frames = np.arange(0, int(60 / FRAME_SECONDS), 5)
    return frames.astype(np.int32), (rng.integers(20, BINS - 20, len(frames)) + LOW_BIN).astype(np.int32)


# Recordings 3 and 5 hold the same material (a loop one reuses from the other); 4 shares nothing with
# either.
PEAKS = {3: catalog(1), 5: catalog(1), 4: catalog(2)}


def kept_and_cut(runs: list[Run]) -> tuple[list[Run], list[explain.WeakCut]]:
    clip_frames = int(20 / FRAME_SECONDS) + 1
    context = SimpleNamespace(
        config=engine.DEFAULT_CONFIG,
        index=SimpleNamespace(peaks=PEAKS.__getitem__),
        clip=SimpleNamespace(presence=spectral.PresenceMap.of_present(np.zeros((clip_frames, BINS), bool))),
    )
    return explain.weak_where_unexplained(runs, context)


def test_a_weak_run_alone_in_the_clip_is_kept_whole():
    alone = run(3, 0.0, 20.0, weak=True)
    kept, cuts = kept_and_cut([alone])
    assert kept == [alone] and cuts == []


def test_a_weak_run_under_a_full_run_sharing_its_material_keeps_only_the_time_it_explains_alone():
    weak, full = run(3, 0.0, 20.0, weak=True), run(5, 6.0, 12.0, weak=False, lane="chromaprint")
    kept, cuts = kept_and_cut([weak, full])
    pieces = sorted((r.clip_start, r.clip_end) for r in kept if r.recording == 3)
    assert pieces == [(0.0, 6.0), (12.0, 20.0)]
    moved = next(r for r in kept if r.recording == 3 and r.clip_start == 12.0)
    assert moved.rec_start == 42.0  # the recording time moves with the clip time
    assert full in kept
    assert [(c.run.recording, c.by, c.clip_start, c.clip_end) for c in cuts] == [(3, 5, 6.0, 12.0)]
    index = SimpleNamespace(recordings={3: {"isrc": "A"}, 5: {"isrc": "B"}})
    assert cuts[0].as_evidence(index)["explained_by"] == "B"


def test_a_weak_run_under_a_full_run_it_shares_nothing_with_is_a_quieter_partner_and_kept():
    weak, full = run(4, 0.0, 20.0, weak=True), run(5, 0.0, 20.0, weak=False)
    kept, cuts = kept_and_cut([weak, full])
    assert kept == [weak, full] and cuts == []


def test_pieces_shorter_than_a_run_are_dropped():
    weak, full = run(3, 0.0, 20.0, weak=True), run(5, 2.0, 18.0, weak=False)
    kept, cuts = kept_and_cut([weak, full])
    assert [r.recording for r in kept] == [5]
    assert len(cuts) == 1


def test_a_weak_run_beside_a_full_run_of_its_own_recording_is_kept():
    weak, own = run(3, 0.0, 20.0, weak=True), run(3, 0.0, 20.0, weak=False, lane="chromaprint")
    kept, cuts = kept_and_cut([weak, own])
    assert kept == [weak, own] and cuts == []


def test_weak_runs_of_two_recordings_do_not_cut_each_other():
    a, b = run(3, 0.0, 20.0, weak=True), run(5, 0.0, 20.0, weak=True)
    kept, cuts = kept_and_cut([a, b])
    assert kept == [a, b] and cuts == []


def test_full_runs_that_overlap_are_left_to_explaining_away():
    a, b = run(3, 0.0, 20.0, weak=False), run(5, 5.0, 15.0, weak=False)
    kept, cuts = kept_and_cut([a, b])
    assert kept == [a, b] and cuts == []


def test_the_calibration_finds_related_pairs_from_full_strength_runs_only():
    """Unrelated pieces in one key and tempo meet in weak runs now and then: that counts in the lane's
    tail, but does not make them relatives (set aside, they would leave the tail too light)."""
    cal = engine.DEFAULT_CONFIG.calibration
    rng = np.random.default_rng(3)
    maxima = list(rng.normal(4.0, 0.7, 200))
    null = calibration.tail_fit("spectral", maxima, 240, 45, cal)

    def observed(full: bool) -> list[calibration.Observation]:
        return [
            calibration.Observation("spectral", 0, float(start), 1, 14.0, 14.0 if full else None)
            for start in (10.0, 40.0, 70.0)
        ]

    assert calibration.related_pairs(observed(True), {"spectral": null}, 45, cal) == {frozenset((0, 1))}
    assert calibration.related_pairs(observed(False), {"spectral": null}, 45, cal) == set()
    tail = calibration.lane_maxima(observed(False), "spectral", set())
    assert tail == [14.0, 14.0, 14.0]  # ... and the weak runs still count in the lane's tail


def test_a_relative_alone_in_a_rarely_firing_lanes_tail_is_set_aside():
    """A lane that rarely fires in leave-one-out (landmarks) sees one strong match between two
    recordings that share audio: judged against a tail that holds nothing but that match, it looked like
    chance and set the lane's evidence bound at its own score. Judged against the tail without it, it
    is a relative, set aside, and the lane keeps its prior tail."""
    config = engine.DEFAULT_CONFIG
    rng = np.random.default_rng(8)
    queries, recordings = 150, 50
    observed = [
        calibration.Observation("spectral", q % recordings, float(q), int(rng.integers(recordings)), s, s)
        for q, s in enumerate(rng.normal(4.0, 0.7, queries))
    ]
    observed.append(calibration.Observation("landmark", 1, 30.0, 4, 25.5, 25.5))
    nulls, related = calibration.fit_nulls(observed, queries, recordings, config)
    assert frozenset((1, 4)) in related
    bound = calibration.Calibration(nulls, recordings).score_for("landmark", 0.002, 20.0)
    assert bound < 10.0  # the prior's, not the relative's 25.5
