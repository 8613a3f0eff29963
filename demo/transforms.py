"""Audio edits used to derive clips from catalog recordings (demo, benchmarks, tests).

Numpy/scipy only: a phase vocoder for tempo changes that keep pitch, pitch shifts that keep tempo
(vocoder + resampling), noise at a given SNR, low-pass, a synthetic reverb, mixing at a level.
"""

import numpy as np
from scipy import signal

from fingerprinting.audio import resample


def _stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    window = np.hanning(n_fft)
    padded = np.concatenate([np.zeros(n_fft // 2), x, np.zeros(n_fft)])
    n = 1 + (len(padded) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    return np.fft.rfft(padded[idx] * window, axis=1)


def _istft(frames: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    window = np.hanning(n_fft)
    out = np.zeros(hop * (len(frames) - 1) + n_fft)
    norm = np.zeros_like(out)
    chunks = np.fft.irfft(frames, n=n_fft, axis=1) * window
    for i, chunk in enumerate(chunks):
        out[i * hop : i * hop + n_fft] += chunk
        norm[i * hop : i * hop + n_fft] += window**2
    out = out / np.maximum(norm, 1e-6)
    return out[n_fft // 2 : n_fft // 2 + length]


def time_stretch(x: np.ndarray, rate: float, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """Play `rate` times faster keeping pitch (rate 1.05 = tempo +5%). Phase vocoder."""
    if rate == 1.0:
        return x.astype(np.float32)
    spec = _stft(x.astype(np.float64), n_fft, hop)
    steps = np.arange(0, len(spec) - 1, rate)
    expected = 2 * np.pi * hop * np.arange(spec.shape[1]) / n_fft
    phase = np.angle(spec[0])
    out = np.empty((len(steps), spec.shape[1]), dtype=complex)
    for i, step in enumerate(steps):
        k = int(step)
        frac = step - k
        a, b = spec[k], spec[k + 1]
        mag = (1 - frac) * np.abs(a) + frac * np.abs(b)
        out[i] = mag * np.exp(1j * phase)
        delta = np.angle(b) - np.angle(a) - expected
        delta -= 2 * np.pi * np.round(delta / (2 * np.pi))
        phase = phase + expected + delta
    return _istft(out, n_fft, hop, int(round(len(x) / rate))).astype(np.float32)


def pitch_shift(x: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """Shift pitch keeping tempo: stretch by the ratio, then resample back to the original length."""
    ratio = 2.0 ** (semitones / 12.0)
    stretched = time_stretch(x, 1.0 / ratio)
    return resample(stretched, int(round(sr * ratio)), sr)[: len(x)]


def speed_change(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Play `factor` times faster: tempo and pitch together (a tape speed change)."""
    return resample(x, sr, int(round(sr / factor)))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-12


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(len(spectrum))
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    return np.fft.irfft(spectrum, n)


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator, colour: str = "white") -> np.ndarray:
    noise = white_noise(len(x), rng) if colour == "white" else pink_noise(len(x), rng)
    noise *= rms(x) / rms(noise) * 10 ** (-snr_db / 20)
    return _peak_safe(x + noise)


def lowpass(x: np.ndarray, sr: int, cutoff: float) -> np.ndarray:
    sos = signal.butter(8, cutoff, btype="low", fs=sr, output="sos")
    return signal.sosfilt(sos, x).astype(np.float32)


def reverb(
    x: np.ndarray, sr: int, rng: np.random.Generator, seconds: float = 1.2, wet: float = 0.4
) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    impulse = rng.standard_normal(len(t)) * np.exp(-t * 6.9 / seconds)
    impulse[0] = 0
    impulse /= np.sqrt(np.sum(impulse**2))
    tail = signal.fftconvolve(x, impulse)[: len(x)]
    return _peak_safe((1 - wet) * x + wet * tail * rms(x) / rms(tail))


def mix(a: np.ndarray, b: np.ndarray, b_db: float) -> np.ndarray:
    """`a` plus `b` at `b_db` dB relative to `a` (by RMS)."""
    n = min(len(a), len(b))
    return _peak_safe(a[:n] + b[:n] * rms(a[:n]) / rms(b[:n]) * 10 ** (b_db / 20))


def _peak_safe(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return (x / peak * 0.9 if peak > 0.99 else x).astype(np.float32)
