"""Signal primitives every lane shares: the analysis sample rate, resampling, the log spectrogram and
its local peaks.

The spectrogram is the landmark lane's (Wang 2003, "An industrial-strength audio search algorithm"):
1024-point FFT with a 256-sample hop at 11025 Hz (23 ms x 10.8 Hz), magnitudes from 258 Hz up (below
that sit kick and snare bodies, which drum machines repeat identically in unrelated pieces at one
tempo). A peak is a bin that dominates a time x frequency neighbourhood and stands above the
clip's median level.
"""

import numpy as np
import soxr
from scipy.fft import rfft

# Everything downstream (Chromaprint, the embedder, landmarks) works at 11025 Hz: Chromaprint resamples
# to it anyway, and the descriptors use nothing above 5 kHz.
ANALYSIS_SR = 11025
N_FFT = 1024
HOP = 256
FRAME_SECONDS = HOP / ANALYSIS_SR
LOW_BIN = 24  # 258 Hz: the first bin kept
N_BINS = 512 - LOW_BIN  # bins 24..511 (a peak's bin fits 9 bits)


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples.astype(np.float32, copy=False), sr_in, sr_out, quality="HQ").astype(
        np.float32
    )


def log_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Log magnitude [frames, N_BINS] (float32); column j is FFT bin LOW_BIN + j."""
    if len(samples) < N_FFT:
        return np.zeros((0, N_BINS), np.float32)
    n = 1 + (len(samples) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(samples.astype(np.float32, copy=False), N_FFT)[::HOP][
        :n
    ]
    # scipy's FFT transforms the frames together (SIMD across frames): 5x numpy's frame by frame, the
    # same float32 arithmetic to rounding (magnitudes agree to ~1e-6 of their size).
    spectrum = np.abs(rfft(frames * np.hanning(N_FFT).astype(np.float32), axis=1))
    return np.log(spectrum[:, LOW_BIN:512] + 1e-6).astype(np.float32)


def spectral_peaks(
    log: np.ndarray, neighbourhood: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every local maximum of a log spectrogram over `neighbourhood` (frames, bins) that stands 1 (a
    factor e) above the median level: (frame, FFT bin, strength)."""
    if len(log) == 0:
        empty = np.zeros(0, np.int32)
        return empty, empty, np.zeros(0, np.float32)
    local = sliding_maximum(log, neighbourhood, fill=-np.inf)
    floor = np.median(log) + 1.0
    t, f = np.nonzero((log == local) & (log > floor))
    return t.astype(np.int32), (f + LOW_BIN).astype(np.int32), log[t, f].astype(np.float32)


def sliding_maximum(values: np.ndarray, size: tuple[int, int], fill=None) -> np.ndarray:
    """scipy.ndimage.maximum_filter(values, size) with mode "constant" (cval `fill`) or, without
    `fill`, mode "nearest": the same values exactly, each window's maximum taken by doubling (a
    window of k is two overlapping windows of the largest power of two <= k), a few whole-array
    maxima per axis. scipy filters line by line, and its pass down the frame axis strides across
    the spectrogram: about a tenth of an attribution's CPU went to these filters."""
    out = values
    for axis, k in enumerate(size):
        out = _sliding_maximum_1d(out, int(k), axis, fill)
    return out


def _sliding_maximum_1d(values: np.ndarray, k: int, axis: int, fill) -> np.ndarray:
    n = values.shape[axis]
    if k <= 1 or n == 0:
        return values
    before, after = k // 2, k - 1 - k // 2  # scipy's centre for a window of k (origin 0)
    widths = [(0, 0)] * values.ndim
    widths[axis] = (before, after)
    if fill is None:
        padded = np.pad(values, widths, mode="edge")
    else:
        padded = np.pad(values, widths, mode="constant", constant_values=fill)

    def part(array: np.ndarray, start: int, stop: int) -> np.ndarray:
        index = [slice(None)] * array.ndim
        index[axis] = slice(start, stop)
        return array[tuple(index)]

    width = 1
    while width * 2 <= k:  # padded[j] becomes the maximum of the `width` values from j
        padded = np.maximum(part(padded, 0, -width), part(padded, width, None))
        width *= 2
    shift = k - width
    if shift:
        padded = np.maximum(part(padded, 0, padded.shape[axis] - shift), part(padded, shift, None))
    return np.ascontiguousarray(part(padded, 0, n))


def strongest_per_second(
    t: np.ndarray, f: np.ndarray, strength: np.ndarray, per_second: int
) -> tuple[np.ndarray, np.ndarray]:
    """The strongest `per_second` peaks of every second, sorted by frame then bin."""
    if len(t) == 0:
        return t, f
    block = t // int(round(1.0 / FRAME_SECONDS))
    order = np.lexsort((f, -strength, block))
    t, f, block = t[order], f[order], block[order]
    first = np.searchsorted(block, block, side="left")
    keep = (np.arange(len(t)) - first) < per_second
    t, f = t[keep], f[keep]
    order = np.lexsort((f, t))
    return t[order].astype(np.int32), f[order].astype(np.int32)
