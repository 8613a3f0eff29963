"""Which line of a re-performance a composition run matched: the bass line, the upper lines (a melody
or chords) or all of them (issue 12's evidence).

The lane aligns chroma, which folds every line into 12 pitch classes, so the alignment itself cannot
say which line the clip plays. The clip's own spectrum can, at the frames the alignment covers:
- *register*: the share of its 30 Hz-4 kHz energy below `BASS_TOP_HZ`. A melody or chords alone
  leave the bass register almost empty, a bass line alone fills it;
- *which register follows the recording*: the clip's chroma split at `BASS_TOP_HZ`, each half aligned
  as the run aligned the whole (its offset, transposition and tempo) with the recording's chroma. In a
  full arrangement that reuses only one line, that line's register follows the recording and the
  other does not.
- *a melody or chords*, when the upper register alone carries the match: how many pitch classes sound
  in it at once (`upper_voices`, the effective number of its chroma's pitch classes by power). A melody
  plays one note at a time, whose harmonics add a fifth and a third; chords play three or four notes.

This is evidence for a reviewer, not a part of the score: a run's score and its false-alarm chance do
not depend on it, and the clip's analysis, the index and its calibration are unchanged.
"""

from dataclasses import dataclass

import numpy as np

from fingerprinting.engine.alignment import ALIGN_POOL, Alignment, normalise_frames, rescale_time
from fingerprinting.engine.embedder import chroma_map, compress_chroma, magnitude_frames
from fingerprinting.engine.signal import ANALYSIS_SR

N_FFT = 2048  # the embedder's STFT (DescriptorEmbedder.N_FFT, HOP), so frames pool to the same
HOP = 512  # alignment frames as the clip's chroma (ALIGN_POOL STFT frames each)
BASS_TOP_HZ = 250.0  # about B3: melody-only tuning clips put at most 0.01-0.03 of their energy below
# it (9 in 10), bass-only clips at least 0.51-0.82 (bench/composition_probe.py --part tuning)
ENERGY_BAND_HZ = (30.0, 4000.0)  # where a line's fundamentals and first harmonics lie
CHROMA_LOW_HZ = 65.0  # the embedder's chroma floor: the recording's chroma stops there too
CHROMA_HIGH_HZ = 2100.0  # and its ceiling
ACTIVE_DB = 30.0  # frames within 30 dB of the clip's loudest count; quieter ones are silence or tails
# Register shares (median over the frames a run covers) that decide a line alone, set on the
# re-performance corpus's tuning clips (`bench/composition_probe.py --part tuning`, docs/attribution.md
# "Which line matched"): melody-only clips have at most 0.01-0.03 in 9 of 10; bass-only clips at least
# 0.51 (synthesized) and 0.82 (real) in 9 of 10, full re-performances at most 0.61 and 0.85. 0.8 keeps
# most real bass lines and most real full arrangements (GM re-renderings of real music are bass-heavy).
UPPER_ONLY_SHARE = 0.05
BASS_ONLY_SHARE = 0.8
# Between the two, both registers sound. The bass register follows the recording when its aligned
# cosine reaches 0.15: a register of unrelated notes aligns at about 0 (melody-only clips' near-empty
# bass register: median 0.05-0.07, 9 in 10 under 0.19), full re-performances' bass register at 0.22 or
# more in 9 of 10. The upper register also carries the bass notes' harmonics, so it follows a little
# whenever the bass does: it counts as a line of its own only at 0.8 of the bass register's cosine or
# more. Set on the tuning part's full re-performances (upper / bass at least 0.9-1.4 in 9 of 10) and
# the probe's mixed pairs (a bass line under another work's melody), 21 of 30 and 21 of 29 of which
# then read "bass" at the bass's source (0.5: 8 of 30 and 8 of 29).
BASS_FOLLOWS_COSINE = 0.15
UPPER_FOLLOWS_RATIO = 0.8
# Pitch classes sounding at once in the upper register (median over the frames a run covers), at or
# under which an upper-register match is a melody, over it chords. Set on the re-performance corpus's
# tuning clips (`bench/composition_probe.py --part tuning`, docs/attribution.md "Melody or chords"):
# melody-only clips at most 2.30 and 2.12 in 9 of 10 (synthesized, real), the synthesized harmony lines
# rendered alone at least 2.73 in 9 of 10. Real harmony lines are whatever the transcription held
# between the melody and the bass, often one inner voice, and read as a melody as often as not.
MELODY_MAX_VOICES = 2.4


@dataclass(frozen=True)
class Registers:
    """A clip's spectrum split at `BASS_TOP_HZ`, per alignment frame (ALIGN_FRAME_SECONDS)."""

    bass_share: np.ndarray  # energy share below BASS_TOP_HZ within ENERGY_BAND_HZ
    active: np.ndarray  # bool: the frame is within ACTIVE_DB of the clip's loudest
    bass: np.ndarray  # [frames, 12] normalised chroma of the bass register (normalise_frames)
    upper: np.ndarray  # [frames, 12] normalised chroma above it
    upper_voices: np.ndarray  # pitch classes sounding at once above it (voices_sounding)


def _pooled(frames: np.ndarray, count: int) -> np.ndarray:
    return frames[: count * ALIGN_POOL].reshape(count, ALIGN_POOL, -1).mean(axis=1)


def _log_chroma(chroma: np.ndarray) -> np.ndarray:
    """The embedder's compression of alignment chroma, then its normalisation."""
    return normalise_frames(compress_chroma(chroma))


def registers(samples: np.ndarray) -> Registers:
    """The clip's registers at the frames of its alignment chroma (the embedder's framing)."""
    spectrum = magnitude_frames(samples, N_FFT, HOP)
    n_stft = len(spectrum)
    count = max(1, n_stft // ALIGN_POOL)
    if n_stft < ALIGN_POOL:
        spectrum = np.resize(spectrum, (ALIGN_POOL, spectrum.shape[1]))
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / ANALYSIS_SR)
    power = _pooled(spectrum**2, count)
    band = (freqs >= ENERGY_BAND_HZ[0]) & (freqs < ENERGY_BAND_HZ[1])
    low = band & (freqs < BASS_TOP_HZ)
    total = power[:, band].sum(axis=1)
    share = power[:, low].sum(axis=1) / np.maximum(total, 1e-12)
    loudest = float(total.max()) if len(total) else 0.0
    active = (total > loudest * 10 ** (-ACTIVE_DB / 10)) & (total > 0)
    magnitude = _pooled(spectrum, count)
    bass = magnitude @ chroma_map(N_FFT, ANALYSIS_SR, CHROMA_LOW_HZ, BASS_TOP_HZ).T
    upper = magnitude @ chroma_map(N_FFT, ANALYSIS_SR, BASS_TOP_HZ, CHROMA_HIGH_HZ).T
    return Registers(share, active, _log_chroma(bass), _log_chroma(upper), voices_sounding(upper))


def voices_sounding(chroma: np.ndarray) -> np.ndarray:
    """Per frame, the effective number of pitch classes in a (magnitude) chroma: (sum p)^2 / sum p^2
    of its power p, 1 for a pure tone's pitch class, 12 for all alike. A note's harmonics add a fifth
    (3rd) and a third (5th), so a melody reads about 1.5-2, a triad 3 or more."""
    power = chroma.astype(np.float64) ** 2
    return power.sum(axis=1) ** 2 / np.maximum((power**2).sum(axis=1), 1e-24)


def _aligned_cosine(chroma: np.ndarray, recording: np.ndarray, al: Alignment, frames: np.ndarray) -> float:
    """Mean cosine of `chroma` (a clip register) with the recording at the run's alignment, over the
    rescaled clip frames `frames` (those the run covers and the register holds)."""
    scaled = normalise_frames(rescale_time(chroma, al.tempo_step)) if al.tempo_step != 1.0 else chroma
    rotated = np.roll(recording, -al.transpose, axis=1)
    frames = frames[frames < len(scaled)]
    if not len(frames):
        return 0.0
    return float(np.mean(np.sum(scaled[frames] * rotated[frames + al.offset_frames], axis=1)))


def _covered(al: Alignment, clip_frames: int, rec_frames: int) -> np.ndarray:
    """The rescaled clip frames the alignment maps inside the recording."""
    length = int(np.floor((clip_frames - 1) / al.tempo_step)) + 1
    idx = np.arange(length)
    return idx[(idx + al.offset_frames >= 0) & (idx + al.offset_frames < rec_frames)]


def _line(bass_share: float, bass_cos: float, upper_cos: float) -> str:
    if bass_share <= UPPER_ONLY_SHARE:
        return "upper"  # nothing sounds in the bass register
    if bass_share >= BASS_ONLY_SHARE:
        return "bass"  # little sounds above it but the bass notes' harmonics
    if bass_cos < BASS_FOLLOWS_COSINE:
        return "upper"  # a bass line of other notes under the recording's upper lines
    if upper_cos < UPPER_FOLLOWS_RATIO * bass_cos:
        return "bass"  # the recording's bass line under upper lines of other notes
    return "all"


def line_of(regs: Registers, recording: np.ndarray, al: Alignment) -> dict:
    """Which line the run at `al` matched, with the figures it rests on.

    `line`: "bass" (the clip holds a bass line alone, or only its bass register follows the
    recording), "upper" (a melody or chords without bass, or only the upper register follows) or
    "all" (both registers sound and follow); "unknown" when the frames the run covers are silent.
    `upper_line`, for "upper" only: "melody" (one note at a time) or "chords"."""
    covered = _covered(al, len(regs.bass_share), len(recording))
    # The clip frame each rescaled frame was read from, for the per-frame register figures.
    clip_frames = np.minimum(np.round(covered * al.tempo_step).astype(int), len(regs.bass_share) - 1)
    sounding = regs.active[clip_frames]
    if not sounding.any():
        return {
            "line": "unknown", "bass_share": None, "bass_alignment": None, "upper_alignment": None,
            "upper_voices": None, "upper_line": None,
        }  # fmt: skip
    share = float(np.median(regs.bass_share[clip_frames[sounding]]))
    bass_cos = _aligned_cosine(regs.bass, recording, al, covered[sounding])
    upper_cos = _aligned_cosine(regs.upper, recording, al, covered[sounding])
    voices = float(np.median(regs.upper_voices[clip_frames[sounding]]))
    line = _line(share, bass_cos, upper_cos)
    return {
        "line": line,
        "bass_share": round(share, 3),
        "bass_alignment": round(bass_cos, 3),
        "upper_alignment": round(upper_cos, 3),
        "upper_voices": round(voices, 2),
        "upper_line": ("melody" if voices <= MELODY_MAX_VOICES else "chords") if line == "upper" else None,
    }
