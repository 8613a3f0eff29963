"""Audio in: sniff the format from bytes, decode anything to mono float32 at one sample rate, and say
why a file cannot be used. Never raises anything but `AudioRejected`/`UnsupportedAudio`/`UndecodableAudio`
for bad input, so a worker never crashes on a partner's file.
"""

import io
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from fingerprinting.errors import AudioRejected, UndecodableAudio, UnsupportedAudio

# Everything downstream (Chromaprint, embedder, landmarks) works at 11025 Hz: Chromaprint resamples to
# it anyway, and the descriptors use nothing above 5 kHz.
ANALYSIS_SR = 11025
SILENCE_RMS = 10 ** (-60 / 20)  # -60 dBFS
FFMPEG_TIMEOUT_SECONDS = 120

REJECT_CODES = ("too_short", "too_long", "silent", "empty", "undecodable")


@dataclass(frozen=True)
class AudioInfo:
    format: str
    duration_seconds: float | None


def sniff_format(head: bytes) -> str | None:
    """The container/codec from the first bytes of a file, or None if it is not audio we know."""
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "opus" if b"OpusHead" in head[:128] else "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0:
        return "mp3"  # MPEG audio frame sync with a valid layer
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1aE\xdf\xa3":
        return "webm"
    return None


def _wav_truncated(data: bytes) -> bool:
    """True if a RIFF/WAVE file's data chunk declares more bytes than the file has."""
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk_id == b"data":
            if size in (0, 0xFFFFFFFF):  # streaming writers leave it open
                return False
            return pos + 8 + size > len(data)
        pos += 8 + size + (size & 1)
    return True  # no data chunk at all


def probe_bytes(data: bytes) -> AudioInfo:
    """Cheap checks for an upload: format from the bytes, header sanity, duration where cheap."""
    fmt = sniff_format(data[:256])
    if fmt is None:
        raise UnsupportedAudio("the file is not audio in a supported format (WAV, FLAC, OGG/Opus, MP3, ...)")
    if fmt == "wav" and _wav_truncated(data):
        raise UndecodableAudio("the WAV file is truncated: its data chunk is longer than the file")
    if fmt in ("wav", "flac", "ogg", "opus", "mp3", "aiff"):
        try:
            info = soundfile.info(io.BytesIO(data))
        except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
            raise UndecodableAudio(f"the {fmt} file cannot be decoded: {exc}")
        duration = info.frames / info.samplerate if info.samplerate and info.frames >= 0 else None
        return AudioInfo(format=fmt, duration_seconds=duration)
    return AudioInfo(format=fmt, duration_seconds=None)  # ffmpeg decodes it at processing time


def _ffmpeg_decode(path: Path, sr: int) -> np.ndarray:
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        raise AudioRejected("ffmpeg is not installed to decode this format", code="undecodable")
    try:
        result = subprocess.run(
            [
                ffmpeg,
                "-nostdin",
                "-v",
                "error",
                "-i",
                str(path),
                "-f",
                "f32le",
                "-ac",
                "1",
                "-ar",
                str(sr),
                "-",
            ],
            capture_output=True,
            timeout=FFMPEG_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AudioRejected("decoding took too long", code="undecodable")
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["unknown error"]
        raise AudioRejected(f"cannot decode audio: {message[0][:200]}", code="undecodable")
    return np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)


def to_mono(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples.astype(np.float32, copy=False), sr_in, sr_out, quality="HQ").astype(
        np.float32
    )


def decode(path: Path | str, *, sr: int = ANALYSIS_SR, max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples at `sr`. Raises AudioRejected(code=...) with a reason for unusable files."""
    path = Path(path)
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        info = None
    if info is not None:
        if max_seconds is not None and info.samplerate and info.frames / info.samplerate > max_seconds:
            raise AudioRejected(
                f"the clip is {info.frames / info.samplerate:.1f} s long; the maximum is {max_seconds:g} s",
                code="too_long",
            )
        try:
            raw, native_sr = soundfile.read(str(path), dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
            raise AudioRejected(f"cannot decode audio: {exc}", code="undecodable")
        samples = resample(to_mono(raw), native_sr, sr)
    else:
        try:
            head = path.read_bytes()[:256]
        except OSError as exc:
            raise AudioRejected(f"cannot read the audio file: {exc}", code="undecodable")
        if sniff_format(head) is None:
            raise AudioRejected("the file is not audio in a supported format", code="undecodable")
        samples = _ffmpeg_decode(path, sr)
    if not np.all(np.isfinite(samples)):
        raise AudioRejected("the audio contains invalid (NaN or infinite) samples", code="undecodable")
    return samples


def check_usable(samples: np.ndarray, *, sr: int, min_seconds: float, max_seconds: float) -> None:
    """Raise AudioRejected with the first reason the decoded audio cannot be attributed."""
    if samples.size == 0:
        raise AudioRejected("the audio has no samples", code="empty")
    seconds = samples.size / sr
    if seconds < min_seconds:
        raise AudioRejected(
            f"the clip is {seconds:.2f} s long; the minimum is {min_seconds:g} s", code="too_short"
        )
    if seconds > max_seconds:
        raise AudioRejected(
            f"the clip is {seconds:.1f} s long; the maximum is {max_seconds:g} s", code="too_long"
        )
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms < SILENCE_RMS:
        raise AudioRejected(f"the clip is silent (RMS {20 * np.log10(rms + 1e-12):.0f} dBFS)", code="silent")


def load_for_analysis(path: Path | str, *, min_seconds: float, max_seconds: float) -> np.ndarray:
    samples = decode(path, max_seconds=max_seconds)
    check_usable(samples, sr=ANALYSIS_SR, min_seconds=min_seconds, max_seconds=max_seconds)
    return samples
