"""Synthesized music for the demo catalog, tests and benchmarks (numpy only; nothing downloaded).

Each seed gives a distinct piece: its own key and mode, tempo, chord progression, melody, bass line,
drum pattern and instrument timbres. Same seed, same samples, bit for bit.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 22050
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = (
    (0, 4, 5, 3),
    (0, 5, 3, 4),
    (5, 3, 0, 4),
    (0, 3, 4, 4),
    (1, 4, 0, 0),
    (0, 2, 5, 4),
    (3, 4, 2, 5),
)
# Harmonic amplitude profiles: each a recognisably different timbre.
TIMBRES = {
    "flute": (1.0, 0.15, 0.05, 0.02),
    "clarinet": (1.0, 0.02, 0.5, 0.02, 0.3, 0.02, 0.15),
    "brass": (1.0, 0.8, 0.7, 0.55, 0.45, 0.35, 0.25, 0.2),
    "organ": (1.0, 0.7, 0.0, 0.5, 0.0, 0.3, 0.0, 0.25),
    "pluck": (1.0, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1),
    "bell": (1.0, 0.0, 0.45, 0.0, 0.0, 0.3, 0.0, 0.0, 0.2),
    "saw": tuple(1.0 / k for k in range(1, 12)),
    "square": tuple((1.0 / k) if k % 2 else 0.0 for k in range(1, 12)),
}
TIMBRE_NAMES = tuple(TIMBRES)


@dataclass(frozen=True)
class PieceSpec:
    seed: int
    tempo_bpm: float
    key_root: int  # MIDI note of the tonic
    mode: str
    progression: tuple[int, ...]
    lead: str
    pad: str
    drums: int  # drum pattern number


def piece_spec(seed: int) -> PieceSpec:
    rng = np.random.default_rng(seed)
    return PieceSpec(
        seed=seed,
        tempo_bpm=float(rng.integers(72, 160)),
        key_root=int(rng.integers(55, 67)),
        mode="major" if rng.random() < 0.55 else "minor",
        progression=PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))],
        lead=TIMBRE_NAMES[int(rng.integers(len(TIMBRE_NAMES)))],
        pad=TIMBRE_NAMES[int(rng.integers(len(TIMBRE_NAMES)))],
        drums=int(rng.integers(4)),
    )


def _midi_hz(note: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(note) - 69) / 12.0)


@lru_cache(maxsize=4096)
def _tone(freq: float, seconds: float, timbre: str, sr: int, decay: float) -> np.ndarray:
    """One note; cached because pieces repeat their notes (the array is never written to)."""
    t = np.arange(int(seconds * sr)) / sr
    wave = np.zeros_like(t)
    for k, amp in enumerate(TIMBRES[timbre], start=1):
        if amp and freq * k < sr / 2:
            wave += amp * np.sin(2 * np.pi * freq * k * t)
    attack = np.minimum(1.0, t / 0.01)
    return wave * attack * np.exp(-t * decay)


def _place(out: np.ndarray, sound: np.ndarray, start: int) -> None:
    end = min(len(out), start + len(sound))
    if start < end:
        out[start:end] += sound[: end - start]


def _drum_hit(kind: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    if kind == "kick":
        return np.sin(2 * np.pi * (50 + 90 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    noise = rng.standard_normal(len(t))
    if kind == "snare":
        return (0.6 * noise + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t * 22)
    hat = np.diff(noise, prepend=0.0)  # crude high-pass
    return 0.4 * hat * np.exp(-t * 60)


DRUM_PATTERNS = (  # 16 steps per bar: k kick, s snare, h hat
    "k-h-s-h-k-h-s-h-",
    "k-hhs-h-k-khs-hh",
    "k--hs--hk-k-s--h",
    "h-h-h-h-h-h-h-h-",
)


def synthesize(
    seed: int,
    seconds: float,
    sr: int = SAMPLE_RATE,
    *,
    tempo: float = 1.0,
    semitones: int = 0,
    lead: str | None = None,
    pad: str | None = None,
    bass: str = "pluck",
    drums: bool = True,
) -> np.ndarray:
    """A mono float32 piece of `seconds` seconds, peak-normalised to 0.8. The keywords re-perform the
    same notes another way (the composition lane's tests): `tempo` times faster, transposed by
    `semitones`, on other timbres, without drums; their defaults give the piece itself, bit for bit."""
    spec = piece_spec(seed)
    spec = PieceSpec(
        seed=spec.seed,
        tempo_bpm=spec.tempo_bpm * tempo,
        key_root=spec.key_root + semitones,
        mode=spec.mode,
        progression=spec.progression,
        lead=lead or spec.lead,
        pad=pad or spec.pad,
        drums=spec.drums,
    )
    rng = np.random.default_rng(seed + 1_000_003)
    n = int(seconds * sr)
    out = np.zeros(n + sr, dtype=np.float64)
    beat = 60.0 / spec.tempo_bpm
    scale = MAJOR if spec.mode == "major" else MINOR
    bar = 4 * beat
    n_bars = int(np.ceil(seconds / bar)) + 1
    # A 2-bar melodic motif varied per repetition, so the piece has a memorable tune.
    motif = rng.integers(0, 8, size=8)
    rhythm = rng.choice([0.5, 1.0, 1.0, 1.5], size=8)
    for b in range(n_bars):
        start = b * bar
        degree = spec.progression[b % len(spec.progression)]
        chord = [scale[(degree + i) % 7] + 12 * ((degree + i) // 7) for i in (0, 2, 4)]
        for note in chord:
            _place(
                out,
                0.18 * _tone(float(_midi_hz(spec.key_root - 12 + note)), bar, spec.pad, sr, 0.8),
                int(start * sr),
            )
        bass_note = _tone(float(_midi_hz(spec.key_root - 24 + chord[0])), beat * 0.9, bass, sr, 4.0)
        for q in range(4):
            _place(out, 0.35 * bass_note, int((start + q * beat) * sr))
        t = start
        for i in range(8):
            step = int(motif[i] + (b // 2 % 2) * (i % 3 == 0))
            pitch = spec.key_root + scale[step % 7] + 12 * (step // 7)
            dur = rhythm[i] * beat / 2
            _place(
                out, 0.3 * _tone(float(_midi_hz(pitch)), float(dur * 1.1), spec.lead, sr, 3.0), int(t * sr)
            )
            t += dur
            if t >= start + bar:
                break
        pattern = DRUM_PATTERNS[spec.drums] if drums else ""
        for s, hit in enumerate(pattern):
            if hit != "-":
                kind = {"k": "kick", "s": "snare", "h": "hat"}[hit]
                _place(out, 0.5 * _drum_hit(kind, sr, rng), int((start + s * bar / 16) * sr))
    out = out[:n]
    peak = np.max(np.abs(out)) or 1.0
    return (0.8 * out / peak).astype(np.float32)


def write_wav(path, samples: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    import soundfile

    soundfile.write(str(path), samples, sr, subtype="PCM_16")
