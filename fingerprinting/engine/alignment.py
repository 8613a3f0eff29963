"""Melodic alignment: verify a style candidate by aligning the clip's chroma sequence with the
recording's, over time offsets, the 12 transpositions and a grid of tempo factors.

Window statistics alone (FAISS lane) rank the right recording first but cannot tell "this recording,
transposed or at another tempo" from "another piece in the same style". Aligning the chroma sequences
can: a derived clip follows its source note for note once the right offset, transposition and tempo
factor are found, an unrelated piece does not. One 2D FFT cross-correlation (pitch axis circular, time
axis linear) per (tempo factor, recording) gives every offset and transposition at once.
"""

from dataclasses import dataclass

import numpy as np
import scipy.fft

ALIGN_POOL = 4  # STFT frames per alignment chroma frame (186 ms at 11025 Hz / 512 hop)
TEMPO_FACTORS = tuple(round(0.88 + 0.03 * k, 2) for k in range(9))  # 0.88 ... 1.12
MIN_OVERLAP = 0.5  # an alignment must cover at least half the clip


def normalise_frames(chroma: np.ndarray) -> np.ndarray:
    """Remove the piece's average chroma (its key profile and drones), centre each frame over pitch and
    scale it to unit length (silent frames stay zero): what remains is how the harmony moves."""
    chroma = chroma.astype(np.float32)
    if len(chroma) > 1:
        chroma = chroma - chroma.mean(axis=0, keepdims=True)
    centred = chroma - chroma.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.where(norms > 1e-3, centred / np.maximum(norms, 1e-9), 0.0).astype(np.float32)


def rescale_time(chroma: np.ndarray, step: float) -> np.ndarray:
    if step == 1.0 or len(chroma) < 2:
        return chroma
    grid = np.arange(0.0, len(chroma) - 1 + 1e-9, step)
    return np.stack([np.interp(grid, np.arange(len(chroma)), chroma[:, k]) for k in range(12)], axis=1)


@dataclass(frozen=True)
class Alignment:
    score: float  # mean cosine of aligned frames over the clip
    offset_frames: int  # recording frame aligned with the (rescaled) clip's first frame
    transpose: int  # semitones the recording is shifted by to match the clip (0..11)
    tempo_step: float  # clip frames per recording frame
    window_cos: np.ndarray  # mean cosine per clip window at this alignment

    @property
    def clip_semitones(self) -> int:
        """How far the clip is transposed from the recording, in -5..6 semitones (the recording's shift
        to match the clip, undone and folded to the nearest octave)."""
        transpose = (-self.transpose) % 12
        return transpose - 12 if transpose > 6 else transpose


def align_many(
    clip: np.ndarray,
    recordings: list[np.ndarray],
    *,
    frame_seconds: float,
    windows: list[tuple[float, float]],
    tempo_factors: tuple[float, ...] = TEMPO_FACTORS,
) -> list[Alignment]:
    """Best alignment of a normalised clip chroma [T, 12] against each normalised recording chroma,
    over `tempo_factors` (clip frames per recording frame)."""
    if not recordings:
        return []
    longest = max(len(r) for r in recordings)
    results: list[Alignment | None] = [None] * len(recordings)
    # The recordings' spectra depend only on the FFT length, which most tempo factors share (the
    # clip's rescaled length moves the padded length past a power of two rarely): computed once per
    # length, they were most of the style lane's time when computed per tempo factor.
    rec_spectra: dict[int, np.ndarray] = {}
    scaled_clips: dict[float, np.ndarray] = {}  # the clip at each tempo, reused for the window cosines
    for step in tempo_factors:
        scaled = scaled_clips[step] = normalise_frames(rescale_time(clip, step)) if step != 1.0 else clip
        length = len(scaled)
        if length < 2:
            continue
        n = 1 << int(np.ceil(np.log2(length + longest)))
        if n not in rec_spectra:
            rec_spectra[n] = _spectra(recordings, n)
        rec_spectrum = rec_spectra[n]
        clip_pad = np.zeros((12, n), dtype=np.float32)
        clip_pad[:, :length] = scaled.T
        # scipy's FFT (SIMD across rows; numpy's goes row by row): the style lane's largest cost.
        spectrum = np.conj(scipy.fft.fft(scipy.fft.rfft(clip_pad, axis=1), axis=0))
        corr = scipy.fft.irfft(scipy.fft.ifft(rec_spectrum * spectrum[None], axis=1), n=n, axis=2)
        # corr[i, k, tau] = sum_t sum_p clip[t, p] * rec_i[t + tau, p + k]; keep offsets with enough overlap
        min_overlap = int(MIN_OVERLAP * length)
        for i, rec in enumerate(recordings):
            taus = np.arange(-(length - min_overlap), max(1, len(rec) - min_overlap))
            if len(taus) == 0:
                continue
            values = corr[i][:, taus % n] / length
            k, j = np.unravel_index(int(np.argmax(values)), values.shape)
            score = float(values[k, j])
            best = results[i]
            if best is None or score > best.score + 1e-9:
                results[i] = Alignment(score, int(taus[j]), int(k), step, np.zeros(0))
    out = []
    for i, best in enumerate(results):
        if best is None:
            out.append(Alignment(0.0, 0, 0, 1.0, np.full(len(windows), np.nan, dtype=np.float32)))
            continue
        out.append(
            Alignment(
                best.score,
                best.offset_frames,
                best.transpose,
                best.tempo_step,
                _window_cos(scaled_clips[best.tempo_step], recordings[i], best, frame_seconds, windows),
            )
        )
    return out


def _spectra(recordings: list[np.ndarray], n: int) -> np.ndarray:
    """The recordings' chroma [T, 12], zero-padded to n frames, through the 2D FFT the correlation
    needs (real along time, circular along pitch): [recordings, 12, n // 2 + 1]."""
    stack = np.zeros((len(recordings), 12, n), dtype=np.float32)
    for i, rec in enumerate(recordings):
        stack[i, :, : len(rec)] = rec.T
    return scipy.fft.fft(scipy.fft.rfft(stack, axis=2), axis=1)


def _window_cos(scaled, rec, alignment: Alignment, frame_seconds: float, windows) -> np.ndarray:
    """Mean cosine per clip window at `alignment`, `scaled` being the clip at its tempo."""
    rotated = np.roll(rec, -alignment.transpose, axis=1)
    idx = np.arange(len(scaled)) + alignment.offset_frames
    valid = (idx >= 0) & (idx < len(rec))
    per_frame = np.zeros(len(scaled), dtype=np.float32)
    per_frame[valid] = np.sum(scaled[valid] * rotated[idx[valid]], axis=1)
    times = np.arange(len(scaled)) * alignment.tempo_step * frame_seconds  # clip seconds
    out = []
    for start, end in windows:
        mask = (times >= start) & (times < end)
        inside = mask & valid
        # A window mostly outside the aligned stretch says nothing either way: NaN, not 0.
        out.append(float(per_frame[inside].mean()) if inside.sum() >= max(1, 0.5 * mask.sum()) else np.nan)
    return np.asarray(out, dtype=np.float32)
