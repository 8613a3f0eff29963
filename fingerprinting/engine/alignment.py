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
    # The clip at each tempo, reused for the window cosines.
    scaled_clips = {
        step: normalise_frames(rescale_time(clip, step)) if step != 1.0 else clip for step in tempo_factors
    }
    longest_clip = max(len(scaled) for scaled in scaled_clips.values())
    results: list[Alignment | None] = [None] * len(recordings)
    for n, bucket in fft_buckets([len(r) for r in recordings], longest_clip).items():
        clip_spectra: dict[float, np.ndarray] = {}  # per tempo factor, shared by the bucket's chunks
        for members in _chunks(bucket, n):
            # A recording's spectrum depends only on the FFT length, which every tempo factor shares:
            # computed once (computed per tempo factor, they were most of the style lane's time).
            rec_spectrum = _spectra([recordings[i] for i in members], n)
            rec_frames = np.array([len(recordings[i]) for i in members])
            for step, scaled in scaled_clips.items():
                if len(scaled) < 2:
                    continue
                if step not in clip_spectra:
                    clip_spectra[step] = _clip_spectrum(scaled, n)
                corr = _correlate(clip_spectra[step], rec_spectrum, n)
                for i, at_step in zip(
                    members, _best_offsets(corr, len(scaled), rec_frames, step), strict=True
                ):
                    best = results[i]
                    # Tempo factors in order, the first best kept: ties go to the earlier factor.
                    if at_step is not None and (best is None or at_step.score > best.score + 1e-9):
                        results[i] = at_step
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


# FFT lengths the alignment pads to: 2^k, 3 x 2^k, 5 x 2^k and 15 x 2^k (all fast for pocketfft), at
# most 25 % apart, so a recording pads by about a tenth on average (powers of two alone: 44 %; on the
# reporting catalog's track lengths, 10 % less FFT work than powers of two and 3 x 2^k, 6 % less CPU).
_FFT_LENGTHS = np.array(sorted({m << k for m in (1, 3, 5, 15) for k in range(31)}))


def fft_length(frames: int) -> int:
    """The FFT length used for `frames` of linear correlation: the smallest of _FFT_LENGTHS that holds them."""
    return int(_FFT_LENGTHS[np.searchsorted(_FFT_LENGTHS, max(frames, 1))])


def fft_buckets(lengths: list[int], clip_frames: int) -> dict[int, list[int]]:
    """Recordings (by position in `lengths`) grouped by the FFT length their correlation with a clip of
    up to `clip_frames` frames needs (padding every recording to the longest one's length made the
    composition lane's alignment about 4x the work on the real catalogs: tuning tracks 35 s to 6.6 min,
    reporting 34 s to 14 min). See `correlation_frames`."""
    buckets: dict[int, list[int]] = {}
    for i, frames in enumerate(lengths):
        buckets.setdefault(fft_length(correlation_frames(frames, clip_frames)), []).append(i)
    return buckets


def correlation_frames(rec_frames: int, clip_frames: int) -> int:
    """The fewest frames a circular correlation of a clip of up to `clip_frames` frames with a recording
    of `rec_frames` needs to equal the linear one at every offset `_best_offsets` reads. Those offsets
    start `before` = ceil(clip / 2) frames ahead of the recording (MIN_OVERLAP), so the products that
    wrap around must land in at least `before` frames of zeros after the recording; and a recording
    shorter than half the clip is read at offset 0 only, over the whole clip. Against clip + recording
    frames (no wrap at all), the FFT work of a 20 s clip falls by 2 % on the real reporting catalog
    (median track 6 min) and 7 % on the tuning one (1.8 min)."""
    before = clip_frames - int(MIN_OVERLAP * clip_frames)
    return max(rec_frames + before, clip_frames)


def _spectra(recordings: list[np.ndarray], n: int) -> np.ndarray:
    """The recordings' chroma [T, 12], zero-padded to n frames, through the 2D FFT the correlation
    needs (real along time, circular along pitch): [12, recordings, n // 2 + 1]. Pitch is the outer
    axis so that the transforms along it run over long contiguous rows (an FFT of length 12 along a
    middle, strided axis cost twice the time axis' inverse FFT)."""
    stack = np.zeros((12, len(recordings), n), dtype=np.float32)
    for i, rec in enumerate(recordings):
        stack[:, i, : len(rec)] = rec.T
    return scipy.fft.fft(scipy.fft.rfft(stack, axis=2), axis=0)


# The inverse DFT over the 12 pitch classes as a matrix: one matrix product (BLAS, one thread as
# fingerprinting.index sets) over the contiguous [12, recordings x frequencies] takes half the time of
# pocketfft's length-12 transforms.
_PITCH_IDFT = (np.exp(2j * np.pi * np.outer(np.arange(12), np.arange(12)) / 12) / 12).astype(np.complex64)


# The most spectrum a correlation handles at once: 1 MiB of complex64 (12 pitch rows x recordings x
# frequencies). The product, its pitch inverse and the time inverse of a chunk stay in the cache, and
# no array is large enough to be mapped and returned to the system at every call: on buckets of 10
# recordings of 3,840 frames (a 12-min track's), one correlation took 2.3 ms whole and 1.0 ms in
# chunks; on buckets of a few short recordings, the same.
CHUNK_BYTES = 1 << 20


def _chunks(members: list[int], n: int) -> list[list[int]]:
    """`members` split so that each part's spectrum at FFT length n fits CHUNK_BYTES."""
    size = max(1, CHUNK_BYTES // (12 * (n // 2 + 1) * 8))
    return [members[a : a + size] for a in range(0, len(members), size)]


def _clip_spectrum(scaled: np.ndarray, n: int) -> np.ndarray:
    """The conjugate 2D spectrum of the clip `scaled` [T, 12] zero-padded to n frames: [12, n // 2 + 1]."""
    clip_pad = np.zeros((12, n), dtype=np.float32)
    clip_pad[:, : len(scaled)] = scaled.T
    # scipy's FFT (SIMD across rows; numpy's goes row by row).
    return np.conj(scipy.fft.fft(scipy.fft.rfft(clip_pad, axis=1), axis=0))


def _correlate(clip_spectrum: np.ndarray, rec_spectrum: np.ndarray, n: int) -> np.ndarray:
    """corr[k, i, tau] = sum_t sum_p clip[t, p] * rec_i[t + tau, p + k] (tau modulo n) for the clip of
    `clip_spectrum` (_clip_spectrum) against every recording of `rec_spectrum` (_spectra at length n):
    the alignment's largest cost."""
    return _inverse(rec_spectrum * clip_spectrum[:, None], n)


def _inverse(product: np.ndarray, n: int) -> np.ndarray:
    """The correlations [12, rows, n] whose 2D cross spectra are `product` [12, rows, n // 2 + 1]."""
    pitch_inverse = (_PITCH_IDFT @ product.reshape(12, -1)).reshape(product.shape)
    return scipy.fft.irfft(pitch_inverse, n=n, axis=2)


def best_window_scores(
    windows: np.ndarray, recording: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window [windows, frames, 12] of a normalised clip (already at its tempo): the score of its
    best alignment with `recording` on its own (every offset where they overlap by MIN_OVERLAP of the
    window, the 12 transpositions, no tempo change: what `align_many` gives the window as a clip at
    tempo 1), and the mean and spread over those offsets of the best score at each (how far the best
    stands out of the window's alignments with this recording). The recording's spectrum is computed
    once for every window."""
    length = windows.shape[1]
    n = fft_length(correlation_frames(len(recording), length))
    spectra = np.stack([_clip_spectrum(window, n) for window in windows], axis=1)  # [12, windows, F]
    corr = _inverse(_spectra([recording], n) * spectra, n)
    found = _best_offsets(corr, length, np.full(len(windows), len(recording)), 1.0)
    best = np.array([0.0 if a is None else a.score for a in found], dtype=np.float64)
    min_overlap = int(MIN_OVERLAP * length)
    before = length - min_overlap
    end = max(1, len(recording) - min_overlap)
    per_offset = corr.max(axis=0)[:, np.r_[n - before : n, 0:end]] / length  # [windows, offsets]
    return best, per_offset.mean(axis=1).astype(np.float64), per_offset.std(axis=1).astype(np.float64)


def _best_offsets(
    corr: np.ndarray, length: int, rec_frames: np.ndarray, step: float
) -> list[Alignment | None]:
    """Per recording i, the best (transposition, offset) of its correlation corr[:, i] [12, n] with a
    clip of `length` frames at tempo `step`, among offsets where they overlap by at least MIN_OVERLAP of
    the clip: tau from -(length - min_overlap) (stored modulo n, at the end) to frames - min_overlap."""
    n = corr.shape[2]
    min_overlap = int(MIN_OVERLAP * length)
    before = length - min_overlap  # offsets where the clip starts before the recording
    over_pitch = corr.max(axis=0)  # [recordings, n]
    out: list[Alignment | None] = []
    for i, frames in enumerate(rec_frames):
        end = max(1, int(frames) - min_overlap)
        # The offsets from -before to -1 first, as a tau order (their circular positions n - before ..).
        stretches = [(-before, over_pitch[i, n - before :]), (0, over_pitch[i, :end])]
        best = None
        for first, values in stretches:
            if len(values):
                j = int(np.argmax(values))
                if best is None or values[j] > best[1]:
                    best = (first + j, values[j])
        if best is None:
            out.append(None)
            continue
        tau = best[0]
        k = int(np.argmax(corr[:, i, tau % n]))
        out.append(Alignment(float(corr[k, i, tau % n]) / length, tau, k, step, np.zeros(0)))
    return out


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
