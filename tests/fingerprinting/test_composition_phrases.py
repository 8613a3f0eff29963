"""The phrases a composition run's evidence counts (composition.phrases_agreeing): a re-performance
follows its source phrase after phrase, so each phrase holds at the run's alignment; unrelated material
does not, even where its whole-clip alignment is the best it has; a phrase the recording repeats holds
at either repeat. The count shows on kept runs and is not part of the score."""

import dataclasses

import numpy as np
import pytest

from fingerprinting.engine import alignment, composition, lines
from fingerprinting.engine.config import CompositionConfig
from fingerprinting.engine.signal import ANALYSIS_SR

CONFIG = CompositionConfig(enabled=True)
PHRASE = CONFIG.phrase_frames


def chroma(frames: int, seed: int) -> np.ndarray:
    """A normalised pitch-class sequence with a few notes sounding per frame, held 2-4 frames."""
    rng = np.random.default_rng(seed)
    rows, t = [], 0
    while t < frames:
        held = int(rng.integers(2, 5))
        row = np.zeros(12)
        row[rng.choice(12, size=3, replace=False)] = rng.random(3) + 0.5
        rows += [row] * held
        t += held
    return alignment.normalise_frames(np.array(rows[:frames]))


def best_alignment(clip: np.ndarray, recording: np.ndarray) -> alignment.Alignment:
    return alignment.align_many(clip, [recording], frame_seconds=0.186, windows=[], tempo_factors=(1.0,))[0]


def test_every_phrase_of_a_transposed_excerpt_holds_at_its_alignment():
    recording = chroma(600, seed=1)
    clip = np.roll(recording[200 : 200 + 4 * PHRASE], 4, axis=1)  # four phrases, 4 semitones up
    al = best_alignment(clip, recording)
    assert (al.offset_frames, al.clip_semitones) == (200, 4)
    assert composition.phrases_agreeing(clip, recording, al, CONFIG) == (4, 4)


def test_unrelated_material_holds_no_phrase_at_its_best_whole_clip_alignment():
    recording = chroma(600, seed=2)
    held = [
        composition.phrases_agreeing(clip, recording, best_alignment(clip, recording), CONFIG)[0]
        for clip in (chroma(4 * PHRASE, seed=s) for s in range(10, 20))
    ]
    assert sum(held) <= 4  # of 40 phrases: a chance alignment is a compromise its phrases leave


def test_a_phrase_the_recording_repeats_holds_at_either_repeat():
    theme = chroma(PHRASE, seed=3)
    recording = np.concatenate([chroma(100, seed=4), theme, chroma(150, seed=5), theme, chroma(100, seed=6)])
    clip = np.concatenate([theme, recording[100 + PHRASE + 150 + PHRASE :][: 2 * PHRASE]])
    al = best_alignment(clip, recording)
    assert al.offset_frames == 100 + PHRASE + 150  # the second statement, where the rest follows
    assert composition.phrases_agreeing(clip, recording, al, CONFIG) == (3, 3)


def test_silent_phrases_are_not_counted_and_a_clip_shorter_than_a_phrase_has_none():
    recording = chroma(300, seed=7)
    clip = recording[50 : 50 + 3 * PHRASE].copy()
    clip[PHRASE : 2 * PHRASE] = 0.0  # a silent phrase in the middle
    al = best_alignment(clip, recording)
    assert composition.phrases_agreeing(clip, recording, al, CONFIG) == (2, 2)
    short = recording[50 : 50 + PHRASE - 1]
    assert composition.phrases_agreeing(short, recording, best_alignment(short, recording), CONFIG) == (0, 0)


def test_a_kept_run_shows_its_phrases_and_its_score_does_not_count_them():
    recordings = [chroma(400, seed=s) for s in range(30, 40)]

    class Catalog:  # the duck-typed catalog the lane reads (positions, chroma, groups, version)
        version = "test-phrases"
        n_recordings = len(recordings)

        def recording_chroma(self, position):
            return recordings[position]

        def group_members(self, position):
            return [position]

    clip = np.roll(recordings[3][120 : 120 + 4 * PHRASE], 2, axis=1)
    config = dataclasses.replace(CONFIG, null_size=6)
    result = composition.align_candidates(Catalog(), clip, [3, 5], config, frozenset())
    run = composition.runs_of(result, clip, Catalog(), duration=len(clip) * 0.186)[0]
    assert "phrases" not in run.detail  # the figure is worked out for kept runs only
    registers = lines.registers(np.zeros(int(len(clip) * 0.186 * ANALYSIS_SR), np.float32))
    kept = composition.described(run, result, registers, clip, Catalog(), config)
    assert (kept.detail["phrases_agreeing"], kept.detail["phrases"]) == (4, 4)
    assert kept.score == run.score == pytest.approx(result.z[0] + config.lead_weight * result.lead[0])
