"""Build the re-performance development corpus (issue 12): catalog works played again with other
instruments, in other keys and tempi, melody or bass alone, and unrelated music played the same way.
Nothing here is committed; the clips are rebuilt from demo.synth and from the real-music corpus.

    scripts/bench-deps.sh                                   # FluidSynth, the GM soundfont, basic-pitch (once)
    .venv/bin/python bench/real_corpus.py --workdir DIR     # the real-music corpus this one builds on
    .venv/bin/python bench/reperformance_corpus.py [--workdir DIR] [--part tuning|reporting|all]
        [--source synth|real|all] [--force]

Two sources, each split into the real corpus' tuning and reporting parts:

- synth: the synthesized catalog of bench/attribution_quality.py (demo.synth pieces, seeds and lengths
  drawn by its Catalog class; tuning seed 1, reporting seed 0, as that script says) is written as a
  catalog (catalog.csv + FLAC) and its scores are re-performed. `synth_score` recovers a seed's notes
  (melody, chords, bass line, drums, tempo, key) from demo.synth's own spec; the melody draw is copied
  from synthesize(), which keeps it local (tests/bench proves the copy: the score rendered with synth's own
  tones gives synthesize()'s samples).
- real: the catalog and unrelated tracks of the part in the real-music corpus (bench/real_corpus.py,
  split by package: tuning = supertux-data / hedgewars-data, reporting = warzone2100-music +
  extremetuxracer-data + pingus-data / megaglest-data + openclonk-data). Only the excerpt a clip needs
  is transcribed, with Spotify's basic-pitch through its ONNX model on onnxruntime (one thread), with
  basic-pitch's default thresholds; transcriptions are cached per window.

Every clip is a MIDI file (mido) rendered by FluidSynth with the FluidR3 General MIDI soundfont, 20 s,
delivered as 16-bit stereo FLAC at 44.1 kHz, peak-normalised to -1 dBFS. Kinds (KINDS): same key and
tempo; key +-1-3 semitones and tempo +-4-10 %; the melody line alone; the bass line alone (both in the
source key and tempo); unrelated music re-performed (negatives: the whole arrangement, or one line).
Instruments are drawn per clip from General MIDI pools that differ from the source's sound (INSTRUMENTS).

Lines of a transcription (real music): the melody is the highest sounding voice among notes from G3 up,
the bass the lowest among notes up to C4, per 10 ms frame; a voice fragment shorter than 0.1 s is a gap
between other notes and is dropped. A window whose transcription is too thin for its line (USABLE) is
replaced by the clip's next candidate window (drawn up front, so the choice is deterministic).

Ground truth (DIR/reperformance/<part>/<source>/manifest.json): per clip the source ISRC (negatives: none),
the source file or seed, offset and length, the transform (semitones, tempo_ratio = clip tempo / source
tempo), the line (full, melody, bass), the instruments and the MIDI file. See bench/README.md.
"""

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_corpus  # noqa: E402

DEFAULT_WORKDIR = real_corpus.DEFAULT_WORKDIR
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")  # Debian fluid-soundfont-gm
DEPS = "run `scripts/bench-deps.sh` (FluidSynth, fluid-soundfont-gm, mido, basic-pitch on onnxruntime)"

PARTS = real_corpus.PARTS
SOURCES = ("synth", "real")
KINDS = ("same_key_tempo", "key_tempo_changed", "melody_only", "bass_only", "unrelated_reperformed")
NEGATIVE_KIND = "unrelated_reperformed"
CLIP_SECONDS = 20.0
RENDER_SR = 44100
# "the synthesized catalog": bench/attribution_quality.py's default catalog (200 recordings) for each seed;
# that script tunes on --seed 1 and reports on --seed 0.
SYNTH_SEEDS = {"tuning": 1, "reporting": 0}
SYNTH_RECORDINGS = 200
SYNTH_REGISTRANT = {"tuning": "SNT", "reporting": "SNR"}  # ISRC registrant codes of the two synth catalogs

# Transforms (key_tempo_changed, and half of the negatives): issue 12 asks for key +-1-3 semitones and tempo
# +-10 %; a change under 4 % is hardly a change, so |tempo_ratio - 1| is drawn from 4-10 %.
SEMITONES = (-3, -2, -1, 1, 2, 3)
TEMPO_CHANGE = (0.04, 0.10)
# Negatives: which line is re-performed. The synth generator derives its chords and bass line from
# (mode, progression) alone, 14 combinations, so an unrelated piece's bass line IS some catalog piece's
# bass line (up to key and tempo): synth negatives re-perform the whole piece or its melody, never the bass.
NEGATIVE_LINES = {"synth": {"full": 0.7, "melody": 0.3}, "real": {"full": 0.6, "melody": 0.2, "bass": 0.2}}

# Lines of a transcription (see the docstring).
LINE_FRAME = 0.01  # s
# A shorter voice fragment is a gap between other notes (basic-pitch's own notes last >= 0.128 s).
MIN_LINE_NOTE = 0.10  # s
MELODY_LOWEST = 55  # G3: below it a note is bass register, not the tune
BASS_HIGHEST = 60  # C4
# A re-performance of nothing is no test: a transcribed window is used for a line only if the line has at
# least this many notes and sounds for this fraction of the window (else the clip's next candidate window).
USABLE = {"full": (16, 0.5), "melody": (8, 0.3), "bass": (8, 0.3)}
CANDIDATES = 12  # candidate windows drawn per real clip
TRANSCRIBE_CONTEXT = 1.0  # s of audio either side of the window, so notes at its edges are seen whole
TRANSCRIBE_SR = 22050  # basic-pitch's AUDIO_SAMPLE_RATE
TRANSCRIBER = "basic-pitch ONNX (icassp_2022 nmp.onnx), default thresholds, 1 onnxruntime thread"

GM_NAMES = {
    0: "Acoustic Grand Piano", 2: "Electric Grand Piano", 4: "Electric Piano 1", 5: "Electric Piano 2",
    6: "Harpsichord", 11: "Vibraphone", 12: "Marimba", 13: "Xylophone", 16: "Drawbar Organ",
    19: "Church Organ", 21: "Accordion", 22: "Harmonica", 24: "Acoustic Guitar (nylon)",
    25: "Acoustic Guitar (steel)", 26: "Electric Guitar (jazz)", 27: "Electric Guitar (clean)",
    32: "Acoustic Bass", 33: "Electric Bass (finger)", 34: "Electric Bass (pick)", 35: "Fretless Bass",
    36: "Slap Bass 1", 38: "Synth Bass 1", 40: "Violin", 42: "Cello", 46: "Orchestral Harp",
    48: "String Ensemble 1", 52: "Choir Aahs", 56: "Trumpet", 58: "Tuba", 61: "Brass Section",
    65: "Alto Sax", 66: "Tenor Sax", 68: "Oboe", 70: "Bassoon", 71: "Clarinet", 73: "Flute",
    80: "Lead 1 (square)", 89: "Pad 2 (warm)",
}  # fmt: skip
# General MIDI programs (0-based) each line is re-performed with. synth: demo.synth plays additive tones
# named after instruments; a clip never uses the GM family its source timbre imitates (SYNTH_FAMILY).
# real: these game soundtracks are synthesizer, tracker-module and orchestral-ensemble music; they are
# re-performed with solo keyboards, mallets, guitars and reeds, never GM synth leads and pads (80-103) nor
# ensemble strings, choirs and brass sections (48-63).
INSTRUMENTS = {
    "synth": {
        "melody": (0, 4, 6, 11, 13, 21, 22, 24, 27, 40, 56, 65, 68, 71, 73, 80),
        "harmony": (0, 2, 4, 16, 19, 24, 25, 46, 48, 52, 61, 89),
        "bass": (32, 33, 34, 35, 38, 42, 58, 70),
    },
    "real": {
        "melody": (0, 4, 6, 11, 12, 21, 22, 24, 26, 65, 66, 71),
        "harmony": (0, 2, 4, 5, 16, 21, 24, 25),
        "bass": (32, 33, 34, 35, 36),
    },
}
SYNTH_FAMILY = {  # demo.synth timbre -> the GM programs that imitate the same instrument
    "flute": tuple(range(72, 80)),
    "clarinet": (71,),
    "brass": tuple(range(56, 64)),
    "organ": tuple(range(16, 24)),
    "pluck": (*range(24, 32), 45, 46, 105, 106, 107),
    "bell": (*range(8, 16), 112, 114),
    "saw": (*range(80, 88), 62, 63),
    "square": tuple(range(80, 88)),
}
CHANNELS = {"melody": 0, "harmony": 1, "bass": 2, "drums": 9}  # channel 10 (9) is GM percussion
GM_DRUMS = {"k": 36, "s": 38, "h": 42}  # bass drum, snare, closed hi-hat: demo.synth's kick, snare, hat
DRUM_VELOCITY = {36: 110, 38: 100, 42: 70}


@dataclass(frozen=True)
class Note:
    start: float  # s
    duration: float  # s
    pitch: int  # MIDI note; on the drums line a GM percussion key
    velocity: int  # 1-127


# -- the synthesized catalog's scores -------------------------------------------------------------------
def synth_score(seed: int, seconds: float) -> dict:
    """The notes demo.synth.synthesize(seed, seconds) plays: {"tempo_bpm", "key_root", "mode", "lead",
    "pad", "lines": {"melody", "harmony", "bass", "drums": [Note]}}, read from demo.synth's own
    piece_spec, scales, PROGRESSIONS and DRUM_PATTERNS. synthesize() draws the melody's motif and rhythm
    inline (not in piece_spec), so that draw is copied here, statement for statement: a
    demo.synth.piece_score(seed) returning them would remove the copy. tests/bench renders this score
    with synth's own tones (synth_render) and checks it gives synthesize()'s samples."""
    from demo import synth

    spec = synth.piece_spec(seed)
    rng = np.random.default_rng(seed + 1_000_003)
    beat = 60.0 / spec.tempo_bpm
    scale = synth.MAJOR if spec.mode == "major" else synth.MINOR
    bar = 4 * beat
    n_bars = int(np.ceil(seconds / bar)) + 1
    motif = rng.integers(0, 8, size=8)
    rhythm = rng.choice([0.5, 1.0, 1.0, 1.5], size=8)
    lines: dict[str, list[Note]] = {"melody": [], "harmony": [], "bass": [], "drums": []}
    for b in range(n_bars):
        start = b * bar
        degree = spec.progression[b % len(spec.progression)]
        chord = [scale[(degree + i) % 7] + 12 * ((degree + i) // 7) for i in (0, 2, 4)]
        for note in chord:
            lines["harmony"].append(Note(start, bar, spec.key_root - 12 + note, 70))
        for q in range(4):
            lines["bass"].append(Note(start + q * beat, beat * 0.9, spec.key_root - 24 + chord[0], 90))
        t = start
        for i in range(8):
            step = int(motif[i] + (b // 2 % 2) * (i % 3 == 0))
            pitch = spec.key_root + scale[step % 7] + 12 * (step // 7)
            dur = rhythm[i] * beat / 2
            lines["melody"].append(Note(float(t), float(dur), int(pitch), 100))
            t += dur
            if t >= start + bar:
                break
        for s, hit in enumerate(synth.DRUM_PATTERNS[spec.drums]):
            if hit != "-":
                key = GM_DRUMS[hit]
                lines["drums"].append(Note(start + s * bar / 16, bar / 16, key, DRUM_VELOCITY[key]))
    return {
        "tempo_bpm": spec.tempo_bpm,
        "key_root": spec.key_root,
        "mode": spec.mode,
        "lead": spec.lead,
        "pad": spec.pad,
        "lines": {k: [n for n in v if n.start < seconds] for k, v in lines.items()},
    }


def synth_render(seed: int, seconds: float, sr: int | None = None) -> np.ndarray:
    """synth_score(seed) played with demo.synth's own tones, levels and drum noise: equal to
    synthesize(seed, seconds, sr) when the score is the one synthesize plays (the tests' proof)."""
    from demo import synth

    sr = sr or synth.SAMPLE_RATE
    spec = synth.piece_spec(seed)
    score = synth_score(seed, seconds)
    rng = np.random.default_rng(seed + 1_000_003)
    rng.integers(0, 8, size=8)  # the motif and rhythm draws: the drums' noise follows them in the stream
    rng.choice([0.5, 1.0, 1.0, 1.5], size=8)
    n = int(seconds * sr)
    out = np.zeros(n + sr, dtype=np.float64)
    hz = lambda p: float(synth._midi_hz(p))  # noqa: E731
    for note in score["lines"]["harmony"]:
        synth._place(
            out, 0.18 * synth._tone(hz(note.pitch), note.duration, spec.pad, sr, 0.8), int(note.start * sr)
        )
    for note in score["lines"]["bass"]:
        synth._place(
            out, 0.35 * synth._tone(hz(note.pitch), note.duration, "pluck", sr, 4.0), int(note.start * sr)
        )
    for note in score["lines"]["melody"]:
        tone = synth._tone(hz(note.pitch), float(note.duration * 1.1), spec.lead, sr, 3.0)
        synth._place(out, 0.3 * tone, int(note.start * sr))
    kinds = {v: {"k": "kick", "s": "snare", "h": "hat"}[k] for k, v in GM_DRUMS.items()}
    for note in score["lines"]["drums"]:
        synth._place(out, 0.5 * synth._drum_hit(kinds[note.pitch], sr, rng), int(note.start * sr))
    out = out[:n]
    peak = np.max(np.abs(out)) or 1.0
    return (0.8 * out / peak).astype(np.float32)


def line_signature(notes: list[Note], tempo_bpm: float, bars: int = 8) -> tuple:
    """A line up to key and tempo: (onset, length) in quarter-beats and the interval to its first note,
    over its first `bars` bars. Two synth pieces with the same signature play the same line."""
    beat = 60.0 / tempo_bpm
    notes = [n for n in notes if n.start < bars * 4 * beat]
    if not notes:
        return ()
    first = notes[0].pitch
    return tuple((round(n.start / beat * 4), round(n.duration / beat * 4), n.pitch - first) for n in notes)


# -- a window of notes, transformed --------------------------------------------------------------------
def window(notes: list[Note], start: float, seconds: float, semitones: int = 0, ratio: float = 1.0,
           transpose: bool = True) -> list[Note]:  # fmt: skip
    """The notes sounding in [start, start + seconds) of the source, in clip time: the window's start at 0,
    played `ratio` times faster (tempo_ratio), transposed by `semitones` (not the drums: transpose=False).
    A note begun before the window sounds from 0 if >= MIN_LINE_NOTE of it is left."""
    out = []
    end = start + seconds
    for n in notes:
        a, b = max(n.start, start), min(n.start + n.duration, end)
        if b - a >= MIN_LINE_NOTE or (a == n.start and b > a):
            pitch = n.pitch + semitones if transpose else n.pitch
            if 0 <= pitch <= 127:
                out.append(Note(round((a - start) / ratio, 4), round((b - a) / ratio, 4), pitch, n.velocity))
    return sorted(out, key=lambda n: (n.start, n.pitch))


# -- lines of a transcription ---------------------------------------------------------------------------
def voice(notes: list[Note], seconds: float, top: bool) -> list[Note]:
    """The highest (top) or lowest sounding voice per LINE_FRAME, among notes from MELODY_LOWEST up (top)
    or up to BASS_HIGHEST (bottom): runs of frames held by one note become a note; runs shorter than
    MIN_LINE_NOTE are dropped. Ties go to the louder note, then the earlier."""
    frames = int(np.ceil(seconds / LINE_FRAME))
    owner = np.full(frames, -1, dtype=np.int64)
    eligible = [
        i for i, n in enumerate(notes) if (n.pitch >= MELODY_LOWEST if top else n.pitch <= BASS_HIGHEST)
    ]
    # Written in order of preference, the preferred last: it overwrites the frames it shares.
    eligible.sort(
        key=lambda i: ((notes[i].pitch if top else -notes[i].pitch), notes[i].velocity, -notes[i].start)
    )
    for i in eligible:
        f0 = int(round(notes[i].start / LINE_FRAME))
        f1 = int(round((notes[i].start + notes[i].duration) / LINE_FRAME))
        owner[max(0, f0) : min(frames, f1)] = i
    out = []
    f = 0
    while f < frames:
        g = f
        while g < frames and owner[g] == owner[f]:
            g += 1
        if owner[f] >= 0 and (g - f) * LINE_FRAME >= MIN_LINE_NOTE - 1e-9:
            n = notes[owner[f]]
            out.append(Note(round(f * LINE_FRAME, 4), round((g - f) * LINE_FRAME, 4), n.pitch, n.velocity))
        f = g
    return out


def split_lines(notes: list[Note], seconds: float) -> dict[str, list[Note]]:
    """A transcription as melody, harmony and bass: `melody` and `bass` are the two voices (above); for the
    whole arrangement every transcribed note is played, on the melody instrument if >= half of it is in the
    melody voice, on the bass instrument if >= half is in the bass voice, else on the harmony instrument."""
    melody, bass = voice(notes, seconds, top=True), voice(notes, seconds, top=False)

    def covered(n: Note, line: list[Note]) -> float:
        return sum(
            max(0.0, min(n.start + n.duration, m.start + m.duration) - max(n.start, m.start))
            for m in line
            if m.pitch == n.pitch
        )

    full: dict[str, list[Note]] = {"melody": [], "harmony": [], "bass": []}
    for n in notes:
        if covered(n, melody) >= 0.5 * n.duration:
            full["melody"].append(n)
        elif covered(n, bass) >= 0.5 * n.duration:
            full["bass"].append(n)
        else:
            full["harmony"].append(n)
    return {"melody_line": melody, "bass_line": bass, **{f"full_{k}": v for k, v in full.items()}}


def sounding(notes: list[Note], seconds: float) -> float:
    """Fraction of the window in which at least one of the notes sounds."""
    frames = np.zeros(int(np.ceil(seconds / LINE_FRAME)), dtype=bool)
    for n in notes:
        frames[int(n.start / LINE_FRAME) : int((n.start + n.duration) / LINE_FRAME)] = True
    return float(frames.mean()) if len(frames) else 0.0


def usable(line: str, notes: list[Note], seconds: float) -> bool:
    least, cover = USABLE[line]
    return len(notes) >= least and sounding(notes, seconds) >= cover


# -- MIDI and FluidSynth ---------------------------------------------------------------------------------
def midi_bytes(parts: list[tuple[str, int | None, list[Note]]], seconds: float) -> bytes:
    """A type-1 MIDI file (mido): one track per line, on its channel with its GM program (None: drums on
    channel 10), at 120 bpm and 480 ticks per beat, so a second is 960 ticks. A note is cut where the next
    note of the same pitch on its channel starts (MIDI cannot hold two)."""
    try:
        import mido
    except ImportError:
        raise SystemExit(f"mido is missing: {DEPS}")
    ticks = lambda s: int(round(s * 960))  # noqa: E731
    song = mido.MidiFile(type=1, ticks_per_beat=480)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    meta.append(mido.MetaMessage("end_of_track", time=ticks(seconds)))
    song.tracks.append(meta)
    for line, program, notes in parts:
        channel = CHANNELS[line]
        events = []  # (tick, 0 = off first, message)
        by_pitch: dict[int, list[Note]] = {}
        for n in sorted(notes, key=lambda n: (n.start, n.pitch)):
            by_pitch.setdefault(n.pitch, []).append(n)
        for pitch, same in by_pitch.items():
            for k, n in enumerate(same):
                on, off = ticks(n.start), ticks(n.start + n.duration)
                if k + 1 < len(same):
                    off = min(off, ticks(same[k + 1].start))
                if off <= on:
                    continue
                events.append(
                    (on, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=n.velocity))
                )
                events.append((off, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=line, time=0))
        if program is not None:
            track.append(mido.Message("program_change", channel=channel, program=program, time=0))
        now = 0
        for tick, _order, message in sorted(events, key=lambda e: (e[0], e[1], e[2].note)):
            track.append(message.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=max(0, ticks(seconds) - now)))
        song.tracks.append(track)
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


def render_midi(midi: Path, out: Path, seconds: float) -> None:
    """FluidSynth (FluidR3 GM, its default reverb and chorus) to float WAV, then sox: exactly `seconds`
    long, peak-normalised to -1 dBFS, 16-bit stereo FLAC at 44.1 kHz. Bit-for-bit repeatable."""
    with tempfile.TemporaryDirectory(prefix="reperf-") as tmp:
        raw = Path(tmp) / "raw.wav"
        real_corpus.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(RENDER_SR), "-O", "float", "-T", "wav",
                         "-F", str(raw), str(SOUNDFONT), str(midi)])  # fmt: skip
        partial = out.with_name(out.stem + ".partial" + out.suffix)
        real_corpus.run(["sox", "-R", "-V1", str(raw), "-b", "16", str(partial), "pad", "0", str(seconds), "trim", "0",
                         str(seconds), "gain", "-n", "-1"])  # fmt: skip
        os.replace(partial, out)


def render_clip(args: tuple[str, str, str, bytes]) -> str:
    """Write the clip's MIDI and render it, unless the same MIDI was rendered already."""
    base, midi_name, audio_name, data = args
    midi, audio = Path(base) / midi_name, Path(base) / audio_name
    if audio.exists() and midi.exists() and midi.read_bytes() == data:
        return "skipped"
    midi.parent.mkdir(parents=True, exist_ok=True)
    audio.parent.mkdir(parents=True, exist_ok=True)
    midi.write_bytes(data)
    render_midi(midi, audio, CLIP_SECONDS)
    return "rendered"


# -- transcription (real music) --------------------------------------------------------------------------
_MODEL = None


def transcriber():
    """basic-pitch's Model on its ONNX file, with a one-thread onnxruntime session (two build processes
    share two cores). Loaded once per process."""
    global _MODEL
    if _MODEL is None:
        logging.getLogger().setLevel(logging.ERROR)  # basic-pitch warns about every backend it lacks
        try:
            import onnxruntime
            from basic_pitch import FilenameSuffix, build_icassp_2022_model_path
            from basic_pitch.inference import Model
        except ImportError as exc:
            raise SystemExit(f"basic-pitch on onnxruntime is missing ({exc}): {DEPS}")
        path = build_icassp_2022_model_path(FilenameSuffix.onnx)
        model = Model(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        model.model = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        model.model_type = Model.MODEL_TYPES.ONNX
        _MODEL = model
    return _MODEL


def transcribe(args: tuple[str, float, float, float, str]) -> list[list]:
    """Notes of [start, start + seconds) of a track ([start s, duration s, pitch, velocity], window time),
    transcribed from the window plus TRANSCRIBE_CONTEXT either side; cached in `cache`."""
    source, start, seconds, track_seconds, cache = args
    cache_path = Path(cache)
    if cache_path.exists():
        return json.loads(cache_path.read_text())["notes"]
    from basic_pitch.inference import predict

    lo = max(0.0, start - TRANSCRIBE_CONTEXT)
    hi = min(track_seconds, start + seconds + TRANSCRIBE_CONTEXT)
    with tempfile.TemporaryDirectory(prefix="transcribe-") as tmp:
        wav = Path(tmp) / "excerpt.wav"
        real_corpus.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{lo:.3f}", "-t", f"{hi - lo:.3f}", "-i", source,
                         "-ac", "1", "-ar", str(TRANSCRIBE_SR), "-c:a", "pcm_f32le", "-y", str(wav)])  # fmt: skip
        with contextlib.redirect_stdout(io.StringIO()):  # "Predicting MIDI for ..."
            _output, _midi, events = predict(str(wav), transcriber())
    notes = []
    for s, e, pitch, amplitude, _bends in events:
        a, b = max(0.0, float(s) + lo - start), min(seconds, float(e) + lo - start)
        if b - a >= MIN_LINE_NOTE:
            # basic-pitch's own MIDI writer uses velocity = round(127 * amplitude)
            velocity = int(np.clip(round(127 * float(amplitude)), 1, 127))
            notes.append([round(a, 4), round(b - a, 4), int(pitch), velocity])
    notes.sort()
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    partial = cache_path.with_name(cache_path.name + ".partial")
    partial.write_text(json.dumps({"transcriber": TRANSCRIBER, "source": source, "start": start,
                                   "seconds": seconds, "notes": notes}))  # fmt: skip
    os.replace(partial, cache_path)
    return notes


def transcription_cache(workdir: Path, track: dict, start: float, seconds: float) -> Path:
    return (
        workdir
        / "reperformance"
        / "transcriptions"
        / track["package"]
        / f"{track['name']}@{start:.3f}+{seconds:.3f}.json"
    )


# -- plans -----------------------------------------------------------------------------------------------
def draw_transform(kind: str, rng: np.random.Generator) -> dict:
    """key_tempo_changed always, negatives half the time, the rest never."""
    if kind == "key_tempo_changed" or (kind == NEGATIVE_KIND and rng.random() < 0.5):
        change = float(rng.uniform(*TEMPO_CHANGE)) * (1 if rng.random() < 0.5 else -1)
        return {"semitones": int(rng.choice(SEMITONES)), "tempo_ratio": round(1.0 + change, 4)}
    return {"semitones": 0, "tempo_ratio": 1.0}


def draw_line(kind: str, source: str, rng: np.random.Generator) -> str:
    if kind == "melody_only":
        return "melody"
    if kind == "bass_only":
        return "bass"
    if kind == NEGATIVE_KIND:
        lines = NEGATIVE_LINES[source]
        return str(rng.choice(list(lines), p=list(lines.values())))
    return "full"


def draw_instruments(source: str, rng: np.random.Generator, lead: str = "", pad: str = "") -> dict:
    """One GM program per line, all different; synth: never the family of the piece's own lead / pad."""
    pools = INSTRUMENTS[source]
    melody = [p for p in pools["melody"] if p not in SYNTH_FAMILY.get(lead, ())]
    m = int(rng.choice(melody))
    harmony = [p for p in pools["harmony"] if p != m and p not in SYNTH_FAMILY.get(pad, ())]
    h = int(rng.choice(harmony))
    b = int(rng.choice([p for p in pools["bass"] if p not in (m, h)]))
    return {"melody": m, "harmony": h, "bass": b}


def instrument_names(instruments: dict, lines: list[str]) -> dict:
    return {
        line: (
            "GM standard drum kit"
            if line == "drums"
            else f"{instruments[line]} {GM_NAMES[instruments[line]]}"
        )
        for line in lines
    }


def clip_entry(kind: str, number: int, truth: dict, source: dict, transform: dict, line: str,
               parts: list[tuple[str, int | None, list[Note]]]) -> tuple[dict, bytes]:  # fmt: skip
    """A manifest entry and the MIDI bytes of its clip."""
    name = f"{kind}-{number:03d}"
    data = midi_bytes(parts, CLIP_SECONDS)
    entry = {
        "file": f"clips/{kind}/{name}.flac",
        "midi": f"midi/{kind}/{name}.mid",
        "kind": kind,
        "seconds": CLIP_SECONDS,
        "truth": truth,
        "source": source,
        "transform": transform,
        "line": line,
        "instruments": {
            p[0]: ("GM standard drum kit" if p[1] is None else f"{p[1]} {GM_NAMES[p[1]]}") for p in parts
        },
        "notes": {p[0]: len(p[2]) for p in parts},
        "midi_sha1": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
    }
    return entry, data


def arrangement(lines: dict[str, list[Note]], line: str, instruments: dict, drums: bool) -> list:
    """The (line, program, notes) parts a clip plays: every line (full), or the one line alone."""
    if line == "full":
        parts = [(k, instruments[k], lines[k]) for k in ("melody", "harmony", "bass") if lines[k]]
        if drums and lines.get("drums"):
            parts.append(("drums", None, lines["drums"]))
        return parts
    return [(line, instruments[line], lines[line])]


# -- the synth source ------------------------------------------------------------------------------------
def synth_catalog(part: str, recordings: int):
    """bench/attribution_quality.py's Catalog for the part's seed: seeds and lengths of its pieces."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from attribution_quality import Catalog

    return Catalog(recordings, SYNTH_SEEDS[part])


def synth_isrc(part: str, i: int) -> str:
    from stdnum import isrc

    return isrc.validate(f"QZ{SYNTH_REGISTRANT[part]}{real_corpus.ISRC_YEAR}{i + 1:05d}")


def write_synth_catalog(folder: Path, part: str, cat) -> dict:
    """catalog.csv (the catalog_import layout) and audio/<ISRC>.flac: synthesize(seed, length) at
    demo.synth's rate, as attribution_quality.py's synth mode indexes it."""
    import csv

    import soundfile

    from catalog.importer import COLUMNS
    from demo import synth

    audio_dir = folder / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    rows, recordings = [], {}
    rng = np.random.default_rng([SYNTH_SEEDS[part], 3])
    for i, (seed, seconds) in enumerate(zip(cat.seeds, cat.durations, strict=True)):
        isrc = synth_isrc(part, i)
        target = audio_dir / f"{isrc}.flac"
        if not target.exists():
            partial = target.with_name(target.stem + ".partial.flac")
            soundfile.write(partial, synth.synthesize(seed, seconds), synth.SAMPLE_RATE, subtype="PCM_16")
            os.replace(partial, target)
        title, composer = f"Synth piece {seed}", f"Synth Composer {i % 17 + 1}"
        recordings[isrc] = {"seed": seed, "seconds": round(seconds, 3), "title": title}
        base = {"isrc": isrc, "title": title, "display_artist": composer, "duration_seconds": f"{seconds:.1f}",
                "audio_file": target.name, "iswc": "", "work_title": title, "party_ipi": "", "party_isni": "",
                "effective_from": real_corpus.EFFECTIVE_FROM}  # fmt: skip
        master = int(rng.choice([50, 60, 70, 80]))
        for name, kind, right, pct in (
            (composer, "artist", "master", master),
            ("Stemma Synth Records", "rights_holder", "master", 100 - master),
            (composer, "artist", "publishing", 100),
        ):
            rows.append(base | {"party_name": name, "party_kind": kind, "right_type": right,
                                "share": f"{pct / 100:.2f}"})  # fmt: skip
    with open(folder / "catalog.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return recordings


def synth_plans(part: str, seed: int, clips: int, negatives: int, recordings: int) -> tuple[dict, list]:
    """(manifest head, [(entry, midi bytes)]) for the synth source of a part."""
    cat = synth_catalog(part, recordings)
    scores = [synth_score(s, d) for s, d in zip(cat.seeds, cat.durations, strict=True)]
    isrcs = [synth_isrc(part, i) for i in range(len(cat.seeds))]
    signature = {
        line: [line_signature(sc["lines"][line], sc["tempo_bpm"]) for sc in scores]
        for line in ("melody", "bass")
    }

    def same(line: str, sig: tuple, but: int | None = None) -> list[str]:
        return [isrcs[j] for j, s in enumerate(signature[line]) if s == sig and j != but]

    out, used_negative_seeds = [], set()
    for kind in KINDS:
        rng = np.random.default_rng([seed, PARTS.index(part), SOURCES.index("synth"), KINDS.index(kind)])
        for number in range(negatives if kind == NEGATIVE_KIND else clips):
            transform = draw_transform(kind, rng)
            line = draw_line(kind, "synth", rng)
            if kind == NEGATIVE_KIND:
                piece = cat.unrelated_seed(60_000_000 + 1_000 * SYNTH_SEEDS[part] + 7 * number)
                while piece in used_negative_seeds:
                    piece = cat.unrelated_seed(piece + 7919)
                used_negative_seeds.add(piece)
                source_seconds = round(CLIP_SECONDS * transform["tempo_ratio"], 3)
                start = round(float(rng.uniform(0.0, 60.0)), 3)
                score = synth_score(piece, start + source_seconds + 1.0)
                truth: dict = {}
                source = {"seed": piece, "start": start, "seconds": source_seconds}
                equivalent: list[str] = []
            else:
                i = int(rng.integers(len(cat.seeds)))
                source_seconds = round(CLIP_SECONDS * transform["tempo_ratio"], 3)
                start = round(float(rng.uniform(0.0, max(0.0, cat.durations[i] - source_seconds))), 3)
                score = scores[i]
                truth = {isrcs[i]: 1.0}
                source = {"isrc": isrcs[i], "seed": cat.seeds[i], "start": start, "seconds": source_seconds}
                equivalent = same(line, signature[line][i], but=i) if line in ("melody", "bass") else []
            instruments = draw_instruments("synth", rng, score["lead"], score["pad"])
            lines = {
                k: window(
                    v, start, source_seconds, transform["semitones"], transform["tempo_ratio"], k != "drums"
                )
                for k, v in score["lines"].items()
            }
            entry, data = clip_entry(kind, number, truth, source, transform, line,
                                     arrangement(lines, line, instruments, drums=True))  # fmt: skip
            entry["source"] |= {"tempo_bpm": score["tempo_bpm"], "key_root": score["key_root"], "mode": score["mode"],
                                "timbres": {"lead": score["lead"], "pad": score["pad"]}}  # fmt: skip
            # The same line (up to key and tempo) in other catalog pieces: no method can tell them apart from
            # this clip, so they count as the source (like near-duplicates) for this clip only.
            entry["also_audible"] = [
                {"isrc": x, "via": source["isrc"], "why": f"same {line} line"} for x in equivalent
            ]
            # Catalog pieces playing the same chords and bass line (up to key and tempo): a share to one of
            # them is still false (a progression is not a work), but the table says how many false shares
            # land there.
            bass_sig = line_signature(score["lines"]["bass"], score["tempo_bpm"])
            entry["shares_harmony_with"] = [x for x in same("bass", bass_sig) if x not in truth]
            out.append((entry, data))
    head = {
        "catalog_seed": SYNTH_SEEDS[part],
        "catalog_recordings": recordings,
        "skipped_unrelated_seeds": cat.skipped_unrelated,
    }
    return head, out


# -- the real source -------------------------------------------------------------------------------------
def real_tracks(workdir: Path, part: str) -> tuple[dict, list[dict], list[dict]]:
    """The real corpus part's manifest, its catalog tracks and its unrelated tracks (with the loudness
    envelopes real_corpus.pick_start needs)."""
    path = workdir / "parts" / part / "manifest.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: build the real-music corpus first with "
                         f".venv/bin/python bench/real_corpus.py --workdir {workdir}")  # fmt: skip
    manifest = json.loads(path.read_text())
    analysis: dict[str, dict] = {}

    def track(file: str, package: str, seconds: float, **extra) -> dict:
        if package not in analysis:
            analysis[package] = json.loads((workdir / "tracks" / package / "analysis.json").read_text())
        name = Path(file).name
        return {"file": file, "name": name, "package": package, "seconds": seconds,
                "envelope_db": analysis[package][name]["envelope_db"], **extra}  # fmt: skip

    catalog = [
        track(r["file"], r["package"], r["seconds"], isrc=isrc) for isrc, r in manifest["recordings"].items()
    ]
    unrelated = [
        track(u["file"], u["package"], u["seconds"], unrelated=name)
        for name, u in manifest["unrelated"].items()
    ]
    return manifest, catalog, unrelated


def passages_heard(isrc: str, start: float, end: float, shared: list[dict]) -> list[dict]:
    """Catalog recordings sharing >= 3 s of verbatim audio with the source window (the real corpus'
    shared passages): the same audio is the same composition, credited like a near-duplicate."""
    found = []
    for p in shared:
        for mine, other, lo, hi in (
            (p["a"], p["b"], p["a_start"], p["a_end"]),
            (p["b"], p["a"], p["b_start"], p["b_end"]),
        ):
            overlap = min(end, hi) - max(start, lo)
            if mine == isrc and overlap >= 3.0:
                found.append(
                    {"isrc": other, "via": isrc, "why": "shared passage", "seconds": round(overlap, 2)}
                )
    return found


def real_plans(
    workdir: Path, part: str, seed: int, clips: int, negatives: int, jobs: int
) -> tuple[dict, list]:
    manifest, catalog, unrelated = real_tracks(workdir, part)
    drafts = []  # (kind, number, transform, line, instruments, [candidate (track, start, seconds)])
    for kind in KINDS:
        rng = np.random.default_rng([seed, PARTS.index(part), SOURCES.index("real"), KINDS.index(kind)])
        pool = unrelated if kind == NEGATIVE_KIND else catalog
        for number in range(negatives if kind == NEGATIVE_KIND else clips):
            transform = draw_transform(kind, rng)
            line = draw_line(kind, "real", rng)
            instruments = draw_instruments("real", rng)
            seconds = round(CLIP_SECONDS * transform["tempo_ratio"], 3)
            candidates = []
            for _ in range(CANDIDATES):
                t = pool[int(rng.integers(len(pool)))]
                candidates.append((t, real_corpus.pick_start(t, seconds, rng), seconds))
            drafts.append((kind, number, transform, line, instruments, candidates))

    chosen: dict[int, tuple] = {}
    attempt = dict.fromkeys(range(len(drafts)), 0)
    transcribed = 0
    started = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool_:
        while attempt:
            jobs_ = {}
            for d, k in attempt.items():
                t, start, seconds = drafts[d][5][k]
                cache = transcription_cache(workdir, t, start, seconds)
                jobs_.setdefault(
                    str(cache), (str(workdir / t["file"]), start, seconds, t["seconds"], str(cache))
                )
            transcribed += sum(not Path(c).exists() for c in jobs_)
            results = dict(zip(jobs_, pool_.map(transcribe, list(jobs_.values())), strict=True))
            for d, k in list(attempt.items()):
                t, start, seconds = drafts[d][5][k]
                notes = [Note(*n) for n in results[str(transcription_cache(workdir, t, start, seconds))]]
                lines = split_lines(notes, seconds)
                line = drafts[d][3]
                content = notes if line == "full" else lines[f"{line}_line"]
                if usable(line, content, seconds):
                    chosen[d] = (t, start, seconds, notes, lines, k)
                    del attempt[d]
                elif k + 1 < CANDIDATES:
                    attempt[d] = k + 1
                else:
                    raise SystemExit(f"{drafts[d][0]}-{drafts[d][1]:03d}: none of {CANDIDATES} candidate windows "
                                     f"transcribes to a usable {line} line")  # fmt: skip
    print(f"  real {part}: {transcribed} windows transcribed in {time.perf_counter() - started:.0f} s "
          f"({sum(v[5] for v in chosen.values())} candidate windows passed over as too thin)", flush=True)  # fmt: skip

    out = []
    for d, (kind, number, transform, line, instruments, _c) in enumerate(drafts):
        t, start, seconds, notes, lines, k = chosen[d]
        ratio, semitones = transform["tempo_ratio"], transform["semitones"]
        clip_lines = {
            "melody": window(
                lines["full_melody"] if line == "full" else lines["melody_line"],
                0.0,
                seconds,
                semitones,
                ratio,
            ),
            "harmony": window(lines["full_harmony"], 0.0, seconds, semitones, ratio),
            "bass": window(
                lines["full_bass"] if line == "full" else lines["bass_line"], 0.0, seconds, semitones, ratio
            ),
        }
        if "isrc" in t:
            truth = {t["isrc"]: 1.0}
            source = {"isrc": t["isrc"], "file": t["file"], "start": start, "seconds": seconds}
            also = passages_heard(t["isrc"], start, start + seconds, manifest["shared_passages"])
        else:
            truth, also = {}, []
            source = {"unrelated": t["unrelated"], "file": t["file"], "start": start, "seconds": seconds}
        source |= {"package": t["package"], "candidate": k, "transcribed_notes": len(notes)}
        entry, data = clip_entry(kind, number, truth, source, transform, line,
                                 arrangement(clip_lines, line, instruments, drums=False))  # fmt: skip
        entry["also_audible"] = also
        out.append((entry, data))
    head = {
        "real_corpus_manifest": f"parts/{part}/manifest.json",
        "near_duplicate_groups": manifest["near_duplicate_groups"],
        "shared_passages": manifest["shared_passages"],
        "recordings": manifest["recordings"],
        "unrelated": manifest["unrelated"],
    }
    return head, out


# -- main ------------------------------------------------------------------------------------------------
def versions() -> dict:
    from importlib import metadata

    found = {}
    for name in ("mido", "basic-pitch", "onnxruntime"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    done = subprocess.run(["fluidsynth", "--version"], capture_output=True, text=True)
    found["fluidsynth"] = done.stdout.splitlines()[0] if done.stdout else "?"
    found["soundfont"] = f"{SOUNDFONT} ({SOUNDFONT.stat().st_size} bytes)"
    return found


def build(workdir: Path, part: str, source: str, args) -> dict:
    base = workdir / "reperformance" / part / source
    if args.force:
        shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if source == "synth":
        cat = synth_catalog(part, args.synth_recordings)
        recordings = write_synth_catalog(base / "catalog", part, cat)
        head, plans = synth_plans(part, args.seed, args.clips, args.negatives, args.synth_recordings)
        head |= {"catalog_csv": f"reperformance/{part}/synth/catalog/catalog.csv",
                 "catalog_audio": f"reperformance/{part}/synth/catalog/audio", "recordings": recordings,
                 "near_duplicate_groups": []}  # fmt: skip
    else:
        head, plans = real_plans(workdir, part, args.seed, args.clips, args.negatives, args.jobs)
        head |= {
            "catalog_csv": f"parts/{part}/catalog/catalog.csv",
            "catalog_audio": f"parts/{part}/catalog/audio",
        }
    planned = time.perf_counter() - started
    with ProcessPoolExecutor(args.jobs) as pool:
        outcomes = Counter(
            pool.map(render_clip, [(str(base), e["midi"], e["file"], d) for e, d in plans], chunksize=4)
        )
    split = real_corpus.SPLIT[part]
    manifest = {
        "part": part,
        "source": source,
        "note": "reporting part: never tune on it" if part == "reporting" else "tuning part",
        "split": real_corpus.SPLIT,
        "describe": (
            f"synthesized catalog (attribution_quality.py Catalog, seed {SYNTH_SEEDS[part]}, {args.synth_recordings} pieces)"
            if source == "synth"
            else f"catalog {' + '.join(split['catalog'])}; unrelated {' + '.join(split['unrelated'])}"
        ),
        "seed": args.seed,
        "paths_relative_to": "the clips and MIDI to this folder; catalog_csv and catalog_audio to the work folder",
        "renderer": versions(),
        "transcriber": TRANSCRIBER if source == "real" else None,
        "line_method": {
            "frame_s": LINE_FRAME,
            "min_note_s": MIN_LINE_NOTE,
            "melody_lowest": MELODY_LOWEST,
            "bass_highest": BASS_HIGHEST,
            "usable": USABLE,
        },  # fmt: skip
        **head,
        "clips": {e["file"]: {k: v for k, v in e.items() if k != "file"} for e, _d in plans},
    }
    (base / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return {"plans": len(plans), "outcomes": outcomes, "planned": planned, "seconds": time.perf_counter() - started,
            "kinds": Counter(e["kind"] for e, _d in plans), "manifest": base / "manifest.json"}  # fmt: skip


def require() -> None:
    missing = [t for t in ("fluidsynth", "sox", "ffmpeg") if not shutil.which(t)]
    if missing or not SOUNDFONT.exists():
        raise SystemExit(f"missing {', '.join(missing) or SOUNDFONT}: {DEPS}")
    try:
        import mido  # noqa: F401
    except ImportError:
        raise SystemExit(f"mido is missing: {DEPS}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="real_corpus.py's --workdir")
    parser.add_argument("--part", choices=[*PARTS, "all"], default="all")
    parser.add_argument("--source", choices=[*SOURCES, "all"], default="all")
    parser.add_argument("--clips", type=int, default=30, help="clips per positive kind")
    parser.add_argument(
        "--negatives", type=int, default=100, help="unrelated_reperformed clips (1 false = 0.01)"
    )
    parser.add_argument("--synth-recordings", type=int, default=SYNTH_RECORDINGS)
    parser.add_argument(
        "--seed", type=int, default=0, help="clip draws (the synth catalogs keep seeds 1 / 0)"
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--force", action="store_true", help="rebuild the part's clips (transcriptions are kept)"
    )
    args = parser.parse_args()
    require()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()  # catalog.importer.COLUMNS: the CSV layout is the importer's own
    workdir = args.workdir.resolve()
    started = time.perf_counter()
    print(f"workdir {workdir}; split by package as the real corpus: {real_corpus.split_text()}", flush=True)
    for part in PARTS if args.part == "all" else (args.part,):
        for source in SOURCES if args.source == "all" else (args.source,):
            s = build(workdir, part, source, args)
            header = "reporting part: never tuned on" if part == "reporting" else "tuning part"
            print(f"{header} -- {source}: {s['plans']} clips ({dict(s['outcomes'])}), planned in {s['planned']:.0f} s, "
                  f"done in {s['seconds']:.0f} s; {dict(s['kinds'])}\n  manifest: {s['manifest']}", flush=True)  # fmt: skip
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
