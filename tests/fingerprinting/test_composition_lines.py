"""The composition lane's functions on their own (no index build, no calibration): retrieval's whitened
patch descriptors, and a line alone (the melody, one note at a time) found against its source's full
arrangement, above the clip's own null of unrelated pieces.

The pieces are made here, note by note (sine partials): a melody, three-note chords and a bass line in
a random key per piece, so a test controls exactly which notes a clip shares with which piece.
"""

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fingerprinting.engine import composition, lines
from fingerprinting.engine.config import CompositionConfig
from fingerprinting.engine.embedder import get_embedder
from fingerprinting.engine.signal import ANALYSIS_SR

SR = ANALYSIS_SR
PIECES = 16
SECONDS = 40.0
BEAT = 0.5  # seconds
CONFIG = CompositionConfig(enabled=True, candidates=8, null_size=8)
MAJOR = (0, 2, 4, 5, 7, 9, 11)


def tone(midi: float, seconds: float, partials: tuple[float, ...]) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    f = 440.0 * 2 ** ((midi - 69) / 12)
    out = sum(w * np.sin(2 * np.pi * f * (k + 1) * t) for k, w in enumerate(partials) if f * (k + 1) < SR / 2)
    return (out * np.minimum(1.0, 30 * t) * np.exp(-1.5 * t)).astype(np.float32)


@lru_cache(maxsize=64)
def score(seed: int) -> dict[str, list[tuple[float, float, int]]]:
    """(start s, length s, MIDI note) per line: melody (eighths and quarters), chords (a bar each), bass."""
    rng = np.random.default_rng(seed)
    key = int(rng.integers(0, 12))
    lines: dict[str, list[tuple[float, float, int]]] = {"melody": [], "chords": [], "bass": []}
    degrees = [int(d) for d in rng.choice([0, 3, 4, 5], size=int(SECONDS / (4 * BEAT)) + 1)]
    for bar, degree in enumerate(degrees):
        start = bar * 4 * BEAT
        root = 48 + key + MAJOR[degree % 7]
        for step in (0, 2, 4):
            note = 48 + key + MAJOR[(degree + step) % 7] + 12 * ((degree + step) // 7)
            lines["chords"].append((start, 4 * BEAT, note + 12))
        for beat in range(4):
            lines["bass"].append((start + beat * BEAT, BEAT, root - 12 + (7 if beat == 2 else 0)))
    t, pitch = 0.0, 4
    while t < SECONDS:
        length = BEAT * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
        pitch = int(np.clip(pitch + rng.integers(-3, 4), 0, 13))
        lines["melody"].append((t, length, 72 + key + MAJOR[pitch % 7] + 12 * (pitch // 7)))
        t += length
    return lines


def render(seed: int, lines: tuple[str, ...], partials: tuple[float, ...], start=0.0, seconds=SECONDS):
    out = np.zeros(int(seconds * SR) + SR, np.float32)
    for line in lines:
        gain = 0.4 if line == "chords" else 1.0
        for begin, length, note in score(seed)[line]:
            if begin + length <= start or begin >= start + seconds:
                continue
            at = int((begin - start) * SR)
            sound = gain * tone(note, length, partials)
            if at < 0:
                sound, at = sound[-at:], 0
            out[at : at + len(sound)] += sound[: len(out) - at]
    out = out[: int(seconds * SR)]
    return out / (np.abs(out).max() + 1e-9)


class MemoryIndex:
    """What the lane reads of a catalog index: each recording's alignment chroma and near-duplicate
    group (none here)."""

    version = "test-composition-lines"

    def __init__(self, chromas: list[np.ndarray]):
        self.chromas = chromas
        self.n_recordings = len(chromas)

    def recording_chroma(self, position: int) -> np.ndarray:
        return self.chromas[position]

    def group_members(self, position: int) -> list[int]:
        return [position]


def chroma(samples: np.ndarray) -> np.ndarray:
    return get_embedder().describe(samples).chroma


@lru_cache(maxsize=1)
def catalog() -> MemoryIndex:
    full = (1.0, 0.5, 0.3, 0.2)  # the catalog's timbre
    return MemoryIndex([chroma(render(seed, ("melody", "chords", "bass"), full)) for seed in range(PIECES)])


def test_whitened_patches_compare_what_sets_them_apart():
    rng = np.random.default_rng(0)
    # Descriptors sharing one large common component, as raw chroma modulation spectra do.
    raw = np.abs(rng.normal(size=(500, 24)) * 0.1 + 1.0).astype(np.float32)
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    assert float(np.mean(raw[:250] @ raw[250:].T)) > 0.9
    mean, matrix = composition.whitening_of(raw, floor=0.01)
    white = composition.whiten(raw, mean, matrix)
    np.testing.assert_allclose(np.linalg.norm(white, axis=1), 1.0, atol=1e-5)
    assert abs(float(np.mean(white[:250] @ white[250:].T))) < 0.05
    # Too few descriptors to estimate anything: the identity (centred on nothing).
    mean, matrix = composition.whitening_of(raw[:1], floor=0.01)
    np.testing.assert_array_equal(matrix, np.eye(24, dtype=np.float32))


def test_the_melody_alone_aligns_with_its_source_above_the_clips_null():
    index = catalog()
    source = 5
    # The melody line alone, on another timbre, 20 s from 8 s into the piece. Retrieval does not always
    # propose a line alone (docs/attribution.md, "Re-performances"); once proposed, the alignment finds
    # where it is, against the source's whole arrangement, well above the clip's chance alignments.
    clip = chroma(render(source, ("melody",), (1.0, 0.0, 0.6, 0.0, 0.4), start=8.0, seconds=20.0))
    others = [p for p in range(PIECES) if p != source][:7]
    result = composition.align_candidates(index, clip, [source, *others], CONFIG, frozenset())
    best = int(np.argmax(result.z))
    assert result.candidates[best] == source
    assert result.z[best] >= 4.0 and float(np.sort(result.z)[-2]) < 3.0
    assert int(np.argmax(result.lead)) == best and result.lead[best] > 1.0 and np.sum(result.lead > 0) == 1
    assert abs(result.alignments[best].offset_frames * 0.186 - 8.0) < 1.0  # where in the source
    assert result.alignments[best].clip_semitones == 0


def test_unrelated_material_does_not_stand_out_from_the_null():
    index = catalog()
    for seed in (900, 901, 902):
        for played in (("melody",), ("melody", "chords", "bass")):
            clip = chroma(render(seed, played, (1.0, 0.0, 0.6, 0.0, 0.4), seconds=20.0))
            result = composition.align(index, clip, CONFIG, frozenset())
            assert float(np.max(result.z)) < 4.0, (seed, played, result.z)


def test_the_null_is_at_most_the_rest_of_the_catalog():
    # `null_size` (64) is larger than a small catalog: the null is then every recording that is neither
    # a candidate nor excluded, each once, whatever the index version's draw.
    index = MemoryIndex([np.zeros((4, 12), np.float32)] * 45)
    avoid = set(range(16)) | {30}
    null = composition.null_positions(index, avoid, CompositionConfig().null_size)
    assert sorted(null) == [p for p in range(45) if p not in avoid]
    # A large catalog: `null_size` recordings drawn by the index version, none avoided, none twice.
    index = MemoryIndex([np.zeros((4, 12), np.float32)] * 200)
    null = composition.null_positions(index, avoid, 64)
    assert len(null) == len(set(null)) == 64 and not set(null) & avoid
    assert null == composition.null_positions(index, avoid, 64)


# -- which line matched (engine.lines) ---------------------------------------------------------------
OTHER_TIMBRE = (1.0, 0.0, 0.6, 0.0, 0.4)


def line_at_source(samples: np.ndarray, source: int) -> dict:
    """The line evidence of `samples` aligned with `source` as the lane aligns a candidate."""
    index = catalog()
    aligned = composition.align_candidates(index, chroma(samples), [source], CONFIG, frozenset())
    return lines.line_of(lines.registers(samples), index.recording_chroma(source), aligned.alignments[0])


def test_the_registers_are_read_at_the_frames_of_the_clips_alignment_chroma():
    for seconds in (0.1, 0.5, 3.3, 20.0):
        samples = render(3, ("melody", "bass"), OTHER_TIMBRE, seconds=seconds)
        regs = lines.registers(samples)
        assert len(regs.bass_share) == len(regs.active) == len(regs.bass) == len(chroma(samples))


@pytest.mark.parametrize(
    ("played", "line", "upper_line"),
    [
        (("melody",), "upper", "melody"),
        (("chords",), "upper", "chords"),
        (("bass",), "bass", None),
        (("melody", "chords", "bass"), "all", None),
    ],
)
def test_the_line_a_reperformance_plays_is_told_from_the_clips_registers(played, line, upper_line):
    source = 5
    found = line_at_source(render(source, played, OTHER_TIMBRE, start=8.0, seconds=20.0), source)
    assert (found["line"], found["upper_line"]) == (line, upper_line)
    if line == "upper":  # nothing sounds below the bass line's register
        assert found["bass_share"] <= lines.UPPER_ONLY_SHARE
    if line == "all":  # both registers sound, and both follow the source
        assert lines.UPPER_ONLY_SHARE < found["bass_share"] < lines.BASS_ONLY_SHARE
        assert min(found["bass_alignment"], found["upper_alignment"]) > 0.3


def test_a_reused_bass_line_under_another_pieces_melody_is_told_apart():
    # Piece 5's bass line under piece 9's melody and chords: aligned with 5, only the bass register
    # follows it; aligned with 9, only the upper register does.
    mix = render(5, ("bass",), OTHER_TIMBRE, start=8.0, seconds=20.0) + render(
        9, ("melody", "chords"), OTHER_TIMBRE, start=8.0, seconds=20.0
    )
    at_bass_source, at_melody_source = line_at_source(mix, 5), line_at_source(mix, 9)
    assert at_bass_source["line"] == "bass" and at_melody_source["line"] == "upper"
    assert at_bass_source["bass_alignment"] > 2 * at_bass_source["upper_alignment"]
    assert at_melody_source["upper_alignment"] > 2 * at_melody_source["bass_alignment"]


def test_a_run_over_silence_matched_no_line():
    index = catalog()
    silent = np.zeros(20 * SR, np.float32)
    found = lines.line_of(
        lines.registers(silent),
        index.recording_chroma(5),
        composition.alignment.Alignment(0.0, 0, 0, 1.0, np.zeros(0)),
    )
    assert found == {
        "line": "unknown", "bass_share": None, "bass_alignment": None, "upper_alignment": None,
        "upper_voices": None, "upper_line": None,
    }  # fmt: skip


@given(
    classes=st.sets(st.integers(0, 11), min_size=1, max_size=12),
    level=st.floats(1e-3, 1e3),
    leak=st.floats(0.0, 1e-4),
)
def test_voices_sounding_counts_pitch_classes_of_equal_strength(classes, level, leak):
    """k pitch classes alike read k (whatever their level), and a trace elsewhere changes little."""
    chroma = np.full((1, 12), leak * level)
    chroma[0, sorted(classes)] = level
    assert abs(lines.voices_sounding(chroma)[0] - len(classes)) < 0.01


def test_a_melody_reads_fewer_voices_than_chords_whatever_the_timbre():
    """The figure `upper_line` rests on, per frame: a melody's harmonics (a fifth, a third) stay under
    MELODY_MAX_VOICES, three-note chords over it."""
    for partials in (OTHER_TIMBRE, (1.0, 0.5, 0.3, 0.2), (1.0,)):
        for played, above in ((("melody",), False), (("chords",), True)):
            regs = lines.registers(render(7, played, partials, seconds=12.0))
            voices = float(np.median(regs.upper_voices[regs.active]))
            assert (voices > lines.MELODY_MAX_VOICES) == above, (partials, played, voices)
