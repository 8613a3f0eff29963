"""Style lane: segment embeddings.

`Embedder` is the interface (a name, a version, aspects with weights). The default,
`DescriptorEmbedder`, runs fully offline on numpy/scipy and describes each window by four aspects:

- timbre:  MFCC 1-19 mean and standard deviation, mean absolute delta of MFCC 1-12 (50 values)
- harmony: key-invariant chroma statistics: circular autocorrelation and DFT magnitude of the mean
           chroma, and the circular cross-correlation of chroma frames one beat-ish (4 frames) apart
           (7 + 6 + 12 values)
- melody:  the 2D Fourier transform magnitude of 12x32 chroma patches (~3 s), median over the
           window: invariant to transposition (pitch axis) and to time shifts (cover-song identification
           trick); rows 0-6 x columns 0-16 (119 values)
- rhythm:  onset-strength autocorrelation on a log-lag grid from 0.25 to 2 s (tempogram summary, 24
           values) plus onset statistics and low/high band flux balance (4 values)

`describe()` returns raw descriptors; `Standardizer` (fitted on the catalog when an index is built and
stored with it) z-scores every value, L2-normalises each aspect and scales it by sqrt(weight), so an
inner product of two embeddings is the weighted sum of per-aspect cosines.

A learned model (CLAP, MERT, ...) can be added as another Embedder whose weights the operator provides
as a local file; nothing is ever downloaded.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from scipy.fft import dct, rfft

from fingerprinting.engine.alignment import ALIGN_POOL, normalise_frames
from fingerprinting.engine.signal import ANALYSIS_SR

ALIGN_FRAME_SECONDS = ALIGN_POOL * 512 / ANALYSIS_SR
WINDOW_SECONDS = 8.0
HOP_SECONDS = 4.0


@dataclass(frozen=True)
class Segments:
    starts: np.ndarray  # float64 seconds
    ends: np.ndarray
    raw: np.ndarray  # float32 [n_windows, raw_dim]
    chroma: np.ndarray  # float32 [n_frames, 12] at ALIGN_FRAME_SECONDS, for melodic alignment


class Embedder(ABC):
    name: str
    version: str
    aspects: dict[str, tuple[int, int]]  # aspect -> [start, stop) columns of the raw descriptor
    weights: dict[str, float]

    @property
    def full_version(self) -> str:
        return f"{self.name}/{self.version}"

    @property
    def dim(self) -> int:
        return max(stop for _start, stop in self.aspects.values())

    @abstractmethod
    def describe(self, samples: np.ndarray) -> Segments:
        """Raw per-window descriptors of mono float32 audio at ANALYSIS_SR."""


def window_bounds(duration: float) -> list[tuple[float, float]]:
    """Windows of WINDOW_SECONDS with HOP_SECONDS hop; a clip shorter than one window is one window, and
    the last window is aligned to the end so the tail is always covered."""
    if duration <= WINDOW_SECONDS:
        return [(0.0, duration)]
    starts = list(np.arange(0.0, duration - WINDOW_SECONDS + 1e-9, HOP_SECONDS))
    if starts[-1] + WINDOW_SECONDS < duration - 0.5:
        starts.append(duration - WINDOW_SECONDS)
    return [(float(s), float(s + WINDOW_SECONDS)) for s in starts]


def _mel_filterbank(n_mels: int, n_fft: int, sr: int, fmin: float, fmax: float) -> np.ndarray:
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    bank = np.zeros((n_mels, len(freqs)), dtype=np.float32)
    for m in range(n_mels):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        rising = (freqs - left) / (centre - left)
        falling = (right - freqs) / (right - centre)
        bank[m] = np.maximum(0.0, np.minimum(rising, falling))
    return bank


def chroma_map(n_fft: int, sr: int, fmin: float = 65.0, fmax: float = 2100.0) -> np.ndarray:
    """Spectrum bin -> pitch class weights between `fmin` and `fmax` Hz (also engine.lines' registers)."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mapping = np.zeros((12, len(freqs)), dtype=np.float32)
    valid = (freqs >= fmin) & (freqs <= fmax)
    midi = 69 + 12 * np.log2(np.where(valid, freqs, 1.0) / 440.0)
    pitch_class = np.mod(np.round(midi), 12).astype(int)
    # Weight by closeness to the semitone centre so bins between two notes count little.
    closeness = np.cos(np.pi * (midi - np.round(midi))) ** 2
    for k in np.nonzero(valid)[0]:
        mapping[pitch_class[k], k] = closeness[k]
    return mapping


def magnitude_frames(samples: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """The magnitude STFT [frames, n_fft // 2 + 1] (float32) of `samples` under a Hann window, one frame
    every `hop` samples from the first, the last ones zero-padded: the embedder's framing, shared with
    engine.lines so that a clip's registers fall on its alignment chroma's frames."""
    padded = np.concatenate([samples.astype(np.float32), np.zeros(n_fft, np.float32)])
    n_frames = max(1, 1 + (len(samples) - 1) // hop)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    # scipy's FFT transforms the frames together (SIMD across frames), 3x numpy's frame by frame.
    return np.abs(rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)).astype(np.float32)


def compress_chroma(chroma: np.ndarray) -> np.ndarray:
    """Chroma per frame relative to its loudest pitch class, log-compressed (a quiet note still counts)."""
    return np.log1p(100.0 * chroma / (chroma.max(axis=1, keepdims=True) + 1e-9))


class DescriptorEmbedder(Embedder):
    name = "stemma-descriptors"
    version = "1.0"
    N_FFT = 2048
    HOP = 512  # 46 ms at 11025 Hz
    N_MELS = 40
    N_MFCC = 20
    CHROMA_POOL = 2  # chroma frames are pairs of STFT frames (93 ms)
    PATCH = 32  # chroma frames per 2D-FFT patch (~3 s)
    PATCH_HOP = 4
    PATCH_ROWS = 7
    PATCH_COLS = 17
    LAGS = 24

    aspects = {"timbre": (0, 50), "harmony": (50, 75), "melody": (75, 194), "rhythm": (194, 222)}
    # Documented in docs/attribution.md. Melody and timbre carry identity; rhythm is the least specific
    # (many pieces share a groove) and the most changed by tempo edits.
    weights = {"timbre": 0.15, "harmony": 0.1, "melody": 0.65, "rhythm": 0.1}

    def __init__(self):
        self._mel = _mel_filterbank(self.N_MELS, self.N_FFT, ANALYSIS_SR, 60.0, 5000.0)
        self._chroma = chroma_map(self.N_FFT, ANALYSIS_SR)
        freqs = np.fft.rfftfreq(self.N_FFT, 1.0 / ANALYSIS_SR)
        mel_centres = np.array([freqs[np.argmax(row)] for row in self._mel])
        self._low_bands = mel_centres < 300.0
        self._high_bands = mel_centres > 2000.0
        frame_rate = ANALYSIS_SR / self.HOP
        self._lag_grid = np.geomspace(0.25 * frame_rate, 2.0 * frame_rate, self.LAGS)

    # -- frame-level features over the whole signal (computed once, windows slice them) -------------
    def _frames(self, samples: np.ndarray) -> dict[str, np.ndarray]:
        spectrum = magnitude_frames(samples, self.N_FFT, self.HOP)
        power = spectrum**2
        mel = power @ self._mel.T
        log_mel = np.log10(mel + 1e-8).astype(np.float32)
        mfcc = dct(log_mel, type=2, norm="ortho", axis=1)[:, : self.N_MFCC]
        compressed = np.log1p(1000.0 * mel / (mel.max() + 1e-12))
        flux = np.maximum(0.0, np.diff(compressed, axis=0, prepend=compressed[:1]))
        chroma = spectrum @ self._chroma.T
        usable = (len(chroma) // ALIGN_POOL) * ALIGN_POOL
        align = chroma[:usable].reshape(-1, ALIGN_POOL, 12).mean(axis=1) if usable else chroma[:1]
        align = compress_chroma(align)
        pool = self.CHROMA_POOL
        usable = (len(chroma) // pool) * pool
        chroma = chroma[:usable].reshape(-1, pool, 12).mean(axis=1) if usable else chroma[:1]
        chroma = compress_chroma(chroma)
        chroma /= chroma.max(axis=1, keepdims=True) + 1e-9
        return {"mfcc": mfcc, "flux": flux, "chroma": chroma.astype(np.float32), "align": align}

    def _timbre(self, mfcc: np.ndarray) -> np.ndarray:
        coeffs = mfcc[:, 1:20]
        delta = np.abs(np.diff(mfcc[:, 1:13], axis=0)) if len(mfcc) > 1 else np.zeros((1, 12))
        return np.concatenate([coeffs.mean(0), coeffs.std(0), delta.mean(0)])

    def _harmony(self, chroma: np.ndarray) -> np.ndarray:
        mean = chroma.mean(0)
        spectrum = np.fft.fft(mean)
        autocorr = np.real(np.fft.ifft(spectrum * np.conj(spectrum)))[:7]
        autocorr = autocorr / (autocorr[0] + 1e-9)
        dft = np.abs(spectrum[1:7]) / (np.abs(spectrum[0]) + 1e-9)
        lag = 4
        if len(chroma) > lag:
            a, b = chroma[:-lag], chroma[lag:]
            cross = np.real(np.fft.ifft(np.fft.fft(a, axis=1) * np.conj(np.fft.fft(b, axis=1)), axis=1)).mean(
                0
            )
            cross = cross / (np.abs(cross).max() + 1e-9)
        else:
            cross = np.zeros(12)
        return np.concatenate([autocorr, dft, cross])

    def _melody(self, chroma: np.ndarray) -> np.ndarray:
        if len(chroma) < self.PATCH:
            chroma = np.resize(chroma, (self.PATCH, 12)) if len(chroma) else np.zeros((self.PATCH, 12))
        starts = range(0, len(chroma) - self.PATCH + 1, self.PATCH_HOP)
        mags = [np.abs(np.fft.fft2(chroma[s : s + self.PATCH].T)) for s in starts]
        mag = np.median(mags, axis=0)[: self.PATCH_ROWS, : self.PATCH_COLS]
        return np.sqrt(mag).ravel()

    def _rhythm(self, flux: np.ndarray) -> np.ndarray:
        onset = flux.mean(axis=1)
        low = flux[:, self._low_bands].mean()
        high = flux[:, self._high_bands].mean()
        centred = onset - onset.mean()
        n = len(centred)
        autocorr = np.fft.irfft(np.abs(np.fft.rfft(centred, 2 * n)) ** 2)[:n]
        autocorr = autocorr / (autocorr[0] + 1e-9)
        lags = np.interp(self._lag_grid, np.arange(n), autocorr, right=0.0)
        stats = [
            onset.mean(),
            onset.std(),
            np.log10((low + 1e-6) / (high + 1e-6)),
            (onset > onset.mean() + onset.std()).mean(),
        ]
        return np.concatenate([lags, stats])

    def describe(self, samples: np.ndarray) -> Segments:
        """Raw descriptors per window, and the whole signal's alignment chroma."""
        duration = len(samples) / ANALYSIS_SR
        frames = self._frames(samples)
        frame_rate = ANALYSIS_SR / self.HOP
        chroma_rate = frame_rate / self.CHROMA_POOL
        bounds = window_bounds(duration)
        rows = []
        for start, end in bounds:
            a, b = int(start * frame_rate), max(int(start * frame_rate) + 2, int(end * frame_rate))
            ca, cb = int(start * chroma_rate), max(int(start * chroma_rate) + 1, int(end * chroma_rate))
            chroma = frames["chroma"][ca:cb]
            rows.append(
                np.concatenate(
                    [
                        self._timbre(frames["mfcc"][a:b]),
                        self._harmony(chroma),
                        self._melody(chroma),
                        self._rhythm(frames["flux"][a:b]),
                    ]
                )
            )
        raw = np.nan_to_num(np.asarray(rows, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        return Segments(
            starts=np.array([s for s, _e in bounds]),
            ends=np.array([e for _s, e in bounds]),
            raw=raw,
            chroma=normalise_frames(frames["align"]),
        )


@dataclass(frozen=True)
class Standardizer:
    """z-score, per-aspect L2 normalisation and sqrt(weight) scaling, fitted on catalog segments."""

    mean: np.ndarray
    scale: np.ndarray
    aspects: dict[str, tuple[int, int]]
    weights: dict[str, float]

    @classmethod
    def fit(cls, raw: np.ndarray, embedder: Embedder) -> "Standardizer":
        raw = raw.astype(np.float64)
        scale = raw.std(axis=0) if len(raw) > 1 else np.ones(raw.shape[1])
        scale = np.where(scale > 1e-6, scale, 1.0)
        return cls(
            mean=raw.mean(axis=0).astype(np.float32),
            scale=scale.astype(np.float32),
            aspects=dict(embedder.aspects),
            weights=dict(embedder.weights),
        )

    def aspect_unit(self, raw: np.ndarray) -> dict[str, np.ndarray]:
        z = (raw.astype(np.float32) - self.mean) / self.scale
        out = {}
        for name, (start, stop) in self.aspects.items():
            block = z[:, start:stop]
            out[name] = block / (np.linalg.norm(block, axis=1, keepdims=True) + 1e-9)
        return out

    def transform(self, raw: np.ndarray) -> np.ndarray:
        units = self.aspect_unit(raw)
        parts = [units[name] * np.float32(np.sqrt(self.weights[name])) for name in self.aspects]
        return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def aspect_similarities(self, a: np.ndarray, b: np.ndarray) -> dict[str, float]:
        """Per-aspect cosine of two transformed (weighted) embeddings."""
        out = {}
        offset = 0
        for name, (start, stop) in self.aspects.items():
            width = stop - start
            weight = self.weights[name]
            out[name] = (
                float(np.dot(a[offset : offset + width], b[offset : offset + width]) / weight)
                if weight
                else 0.0
            )
            offset += width
        return out

    def to_json(self) -> dict:
        return {
            "mean": [float(x) for x in self.mean],
            "scale": [float(x) for x in self.scale],
            # A list, not a dict: the order of the aspects is the order of the embedding's columns,
            # and JSON objects are written with sorted keys.
            "aspects": [[k, int(v[0]), int(v[1])] for k, v in self.aspects.items()],
            "weights": self.weights,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Standardizer":
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float32),
            scale=np.asarray(data["scale"], dtype=np.float32),
            aspects={name: (start, stop) for name, start, stop in data["aspects"]},
            weights=dict(data["weights"]),
        )


EMBEDDERS: dict[str, type[Embedder]] = {DescriptorEmbedder.name: DescriptorEmbedder}


def get_embedder(name: str = DescriptorEmbedder.name) -> Embedder:
    return EMBEDDERS[name]()
