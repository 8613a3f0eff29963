"""Smoke tests of the re-performance benchmark's pure parts (bench/reperformance_corpus.py,
bench/reperformance_quality.py): the synth score recovery (proved against demo.synth itself), windows
and transforms, the melody and bass lines of a transcription, the MIDI files, the clip plans and the
scoring. FluidSynth renders one short file when it is installed; basic-pitch and the corpus are never
needed here."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # after the project: no shadowing

import real_engine  # noqa: E402
import reperformance_corpus as rc  # noqa: E402
import reperformance_quality as rq  # noqa: E402

from demo.synth import MAJOR, MINOR, piece_spec, synthesize  # noqa: E402

Note = rc.Note


@pytest.mark.parametrize("seed", [11, 28, 1_000_014, 60_001_007])
def test_the_recovered_score_is_what_synth_plays(seed):
    """Rendering synth_score with demo.synth's own tones gives synthesize()'s samples, bit for bit: the
    notes (pitches, onsets, lengths) and the drum pattern are the ones the catalog recording plays."""
    assert np.array_equal(rc.synth_render(seed, 9.0), synthesize(seed, 9.0))


def test_score_fields_follow_the_spec():
    spec = piece_spec(28)
    score = rc.synth_score(28, 30.0)
    assert (score["tempo_bpm"], score["key_root"], score["mode"]) == (
        spec.tempo_bpm,
        spec.key_root,
        spec.mode,
    )
    scale = MAJOR if spec.mode == "major" else MINOR
    assert all((n.pitch - spec.key_root) % 12 in scale for n in score["lines"]["melody"])
    beat = 60.0 / spec.tempo_bpm
    assert [n.start for n in score["lines"]["bass"][:4]] == pytest.approx([0, beat, 2 * beat, 3 * beat])
    assert all(n.start < 30.0 for line in score["lines"].values() for n in line)


def test_window_transposes_and_changes_tempo_not_the_drums():
    notes = [
        Note(9.5, 1.0, 60, 90),
        Note(10.5, 0.5, 62, 90),
        Note(9.95, 0.1, 64, 90),
        Note(31.0, 1.0, 65, 90),
    ]
    out = rc.window(notes, 10.0, 20.0, semitones=-2, ratio=1.25)
    # the first note is cut to the window (0.5 s left), the 0.05 s tail of the third is dropped
    assert out == [Note(0.0, 0.4, 58, 90), Note(0.4, 0.4, 60, 90)]
    assert [n.pitch for n in rc.window(notes, 10.0, 20.0, semitones=3, transpose=False)] == [60, 62]


def test_melody_and_bass_are_the_outer_voices():
    # two bars: a held low C2 and a C major chord, a melody line on top, and a 50 ms blip above it
    notes = [
        Note(0.0, 4.0, 36, 80),
        Note(0.0, 2.0, 60, 60),
        Note(0.0, 2.0, 64, 60),
        Note(2.0, 2.0, 65, 60),
        Note(0.0, 1.0, 72, 100),
        Note(1.0, 1.0, 74, 100),
        Note(2.0, 2.0, 76, 100),
        Note(3.0, 0.05, 84, 30),
    ]
    lines = rc.split_lines(notes, 4.0)
    assert [(n.pitch, n.start) for n in lines["melody_line"]] == [(72, 0.0), (74, 1.0), (76, 2.0), (76, 3.05)]
    assert [(n.pitch, n.duration) for n in lines["bass_line"]] == [(36, 4.0)]
    assert {n.pitch for n in lines["full_melody"]} == {72, 74, 76}
    assert {n.pitch for n in lines["full_bass"]} == {36}
    assert {n.pitch for n in lines["full_harmony"]} == {60, 64, 65, 84}
    assert rc.sounding(lines["melody_line"], 4.0) == pytest.approx(0.9875)
    assert not rc.usable("melody", lines["melody_line"], 4.0)  # 4 notes: too few for a line


def test_instruments_differ_from_the_source_timbre():
    rng = np.random.default_rng(0)
    for lead in rc.SYNTH_FAMILY:
        chosen = rc.draw_instruments("synth", rng, lead=lead, pad=lead)
        assert (
            chosen["melody"] not in rc.SYNTH_FAMILY[lead] and chosen["harmony"] not in rc.SYNTH_FAMILY[lead]
        )
        assert len(set(chosen.values())) == 3
    real = rc.draw_instruments("real", rng)
    assert not any(48 <= p <= 63 or 80 <= p <= 103 for p in real.values())


def test_midi_file_holds_the_notes():
    mido = pytest.importorskip("mido")
    import io

    notes = [Note(0.0, 1.0, 60, 100), Note(0.5, 1.0, 60, 90), Note(1.0, 0.5, 67, 80)]
    data = rc.midi_bytes([("melody", 40, notes), ("drums", None, [Note(0.0, 0.1, 36, 110)])], 20.0)
    song = mido.MidiFile(file=io.BytesIO(data))
    assert song.length == pytest.approx(20.0)
    on = [(m.channel, m.note) for m in song if m.type == "note_on"]
    assert sorted(on) == [(0, 60), (0, 60), (0, 67), (9, 36)]
    programs = [m.program for t in song.tracks for m in t if m.type == "program_change"]
    assert programs == [40]  # none for the drums (channel 10)
    assert data == rc.midi_bytes([("melody", 40, notes), ("drums", None, [Note(0.0, 0.1, 36, 110)])], 20.0)


def test_synth_plans_are_deterministic_with_truth():
    pytest.importorskip("mido")
    head, plans = rc.synth_plans("tuning", 0, clips=3, negatives=4, recordings=12)
    again = rc.synth_plans("tuning", 0, clips=3, negatives=4, recordings=12)[1]
    assert [(e, d) for e, d in plans] == [(e, d) for e, d in again]
    specs = {
        rc.synth_isrc("tuning", i): piece_spec(s) for i, s in enumerate(rc.synth_catalog("tuning", 12).seeds)
    }
    credited = 0
    kinds = [e["kind"] for e, _d in plans]
    assert kinds.count("unrelated_reperformed") == 4 and kinds.count("bass_only") == 3
    for entry, _data in plans:
        transform = entry["transform"]
        assert entry["source"]["seconds"] == pytest.approx(20.0 * transform["tempo_ratio"], abs=1e-3)
        if entry["kind"] == "unrelated_reperformed":
            assert entry["truth"] == {} and entry["line"] in ("full", "melody")
        else:
            assert list(entry["truth"].values()) == [1.0]
        if entry["kind"] == "key_tempo_changed":
            assert transform["semitones"] in rc.SEMITONES
            assert 0.04 <= abs(transform["tempo_ratio"] - 1) <= 0.10
        if entry["kind"] in ("melody_only", "bass_only"):
            assert list(entry["notes"]) == [entry["line"]] and transform == {
                "semitones": 0,
                "tempo_ratio": 1.0,
            }
        if entry["kind"] == "bass_only":
            # the pieces credited as playing the same bass line: exactly those of the same mode and progression
            spec = piece_spec(entry["source"]["seed"])
            expected = {
                isrc
                for isrc, other in specs.items()
                if (other.mode, other.progression) == (spec.mode, spec.progression)
                and isrc != entry["source"]["isrc"]
            }
            assert {a["isrc"] for a in entry["also_audible"]} == expected
            credited += len(expected)
    assert credited  # 12 pieces, 14 (mode, progression) pairs: this draw has bass lines in common


@pytest.mark.skipif(
    not shutil.which("fluidsynth") or not rc.SOUNDFONT.exists(),
    reason="FluidSynth / FluidR3_GM not installed",
)
def test_fluidsynth_render_is_repeatable(tmp_path):
    pytest.importorskip("mido")
    import soundfile

    data = rc.midi_bytes([("melody", 0, [Note(0.0, 0.5, 60 + k, 100) for k in range(8)])], rc.CLIP_SECONDS)
    assert rc.render_clip((str(tmp_path), "a.mid", "a.flac", data)) == "rendered"
    assert rc.render_clip((str(tmp_path), "a.mid", "a.flac", data)) == "skipped"
    first = (tmp_path / "a.flac").read_bytes()
    (tmp_path / "a.flac").unlink()
    rc.render_clip((str(tmp_path), "a.mid", "a.flac", data))
    assert (tmp_path / "a.flac").read_bytes() == first
    audio, sr = soundfile.read(tmp_path / "a.flac")
    assert sr == 44100 and audio.shape == (20 * 44100, 2)
    assert np.abs(audio).max() == pytest.approx(10 ** (-1 / 20), abs=0.01)


def outcome(*shares, state="needs_review"):
    return real_engine.Outcome(
        shares=[{"isrc": i, "share": s, "lane": "style", "right": r, "evidence": {}} for i, s, r in shares],
        remainder=1.0 - sum(s for _i, s, _r in shares),
        review_state=state,
    )


def test_scoring_rights_and_false_shares():
    clip = {"truth": {"A": 1.0}, "also_audible": [{"isrc": "B", "via": "A"}], "shares_harmony_with": ["C"]}
    m = rq.clip_metrics(clip, outcome(("B", 0.5, "composition"), ("A", 0.3, "recording")), {})
    assert m["rec@1"] and not m["false"] and m["source_rights"] == ["composition", "recording"]
    m = rq.clip_metrics(clip, outcome(("C", 0.2, "composition"), ("A", 0.3, "composition")), {})
    assert m["false"] and m["false_composition"] and not m["false_recording"] and m["false_harmony_only"]
    negative = {"truth": {}, "also_audible": []}
    rows = [
        {"metrics": rq.clip_metrics(negative, o, {}), "shares": o.shares, "cpu_seconds": 0.1, "error": ""}
        for o in (outcome(("C", 0.06, None), state="auto_accepted"), outcome(("C", 0.04, None)), outcome())
    ]
    row = rq.summarize("unrelated_reperformed", rows)
    assert row["false"] == pytest.approx(1 / 3) and row["auto"] == pytest.approx(1 / 3)
    assert row["false_composition"] == 0 and not row["rights_reported"]
    assert rq.verdict(row).startswith("MISS")
