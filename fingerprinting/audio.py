"""Audio in: sniff the format from bytes, decode anything to mono float32 at one sample rate, and say
why a file cannot be used. Never raises anything but `AudioRejected`/`UnsupportedAudio`/`UndecodableAudio`
for bad input, so a worker never crashes on a partner's file.
"""

import io
import math
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
FFPROBE_TIMEOUT_SECONDS = 20  # reading a header; anything slower is a hostile file, decoded bounded anyway
# Decoding reads this much audio per step: memory per step stays small (10 s of 8-channel 192 kHz
# float32 is 61 MB), and the per-step overhead is negligible against the work.
DECODE_BLOCK_SECONDS = 10
# ffmpeg is told to stop this far past the limit, so a clip that is too long is seen to be too long.
OVERRUN_SECONDS = 1.0

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


def _too_long(seconds: float, max_seconds: float, *, at_least: bool = False) -> AudioRejected:
    length = f"at least {seconds:.1f} s" if at_least else f"{seconds:.1f} s"
    return AudioRejected(f"the clip is {length} long; the maximum is {max_seconds:g} s", code="too_long")


def container_duration(path: Path | str) -> float | None:
    """The duration the container declares (ffprobe), without decoding; None if it declares none.

    A declared duration can lie (a streamed WebM says nothing or too little), so decoding stays bounded
    by itself; this only lets an honest long file be refused before any decoding at all.
    """
    ffprobe = shutil.which("ffprobe")
    if not ffprobe:
        return None
    try:
        result = subprocess.run(
            [
                ffprobe,
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "default=nw=1:nk=1",
                str(path),
            ],
            capture_output=True,
            timeout=FFPROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    try:
        duration = float(result.stdout.decode(errors="replace").strip().splitlines()[0])
    except (ValueError, IndexError):
        return None
    return duration if math.isfinite(duration) and duration >= 0 else None


def _ffmpeg_decode(path: Path, sr: int, max_seconds: float | None = None) -> np.ndarray:
    """Decode with ffmpeg to mono float32 at `sr`. With `max_seconds`, ffmpeg stops writing just past it
    (`-t`), so the output, and this process's memory, are bounded whatever the file holds."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        raise AudioRejected("ffmpeg is not installed to decode this format", code="undecodable")
    limit = [] if max_seconds is None else ["-t", f"{max_seconds + OVERRUN_SECONDS:g}"]
    command = [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), *limit]
    command += ["-f", "f32le", "-ac", "1", "-ar", str(sr), "-"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise AudioRejected("decoding took too long", code="undecodable")
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["unknown error"]
        raise AudioRejected(f"cannot decode audio: {message[0][:200]}", code="undecodable")
    return np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)


def _soundfile_decode(path: Path, info, sr: int, max_seconds: float | None) -> np.ndarray:
    """Decode block by block, each block down-mixed and resampled as it comes (soxr's stream resampler
    gives the same samples as resampling the whole at once), so memory holds the output at `sr` and one
    block, never the whole file at its own rate and channel count. Stops past `max_seconds` whatever
    the header said about the length."""
    native_sr = int(info.samplerate)
    max_frames = None if max_seconds is None else math.ceil(max_seconds * native_sr)
    stream = None if native_sr == sr else soxr.ResampleStream(native_sr, sr, 1, dtype="float32", quality="HQ")
    parts: list[np.ndarray] = []
    frames = 0
    try:
        with soundfile.SoundFile(str(path)) as handle:
            block_frames = max(1, int(native_sr * DECODE_BLOCK_SECONDS))
            while True:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                frames += len(block)
                if max_frames is not None and frames > max_frames:
                    assert max_seconds is not None
                    raise _too_long(frames / native_sr, max_seconds, at_least=True)
                mono = to_mono(block).astype(np.float32, copy=False)
                parts.append(stream.resample_chunk(mono, last=False) if stream else mono.copy())
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioRejected(f"cannot decode audio: {exc}", code="undecodable")
    if stream is not None:
        parts.append(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, dtype=np.float32)


def to_mono(samples: np.ndarray) -> np.ndarray:
    # Summed channel by channel: a mean over axis 1 of an interleaved [frames, channels] block walks
    # it with a stride and costs several times as much (a tenth of an attribution's CPU at 44.1 kHz).
    if samples.ndim != 2:
        return samples
    mono = samples[:, 0].astype(np.float32, copy=True)
    for channel in range(1, samples.shape[1]):
        mono += samples[:, channel]
    return mono / np.float32(samples.shape[1]) if samples.shape[1] > 1 else mono


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples.astype(np.float32, copy=False), sr_in, sr_out, quality="HQ").astype(
        np.float32
    )


def decode(path: Path | str, *, sr: int = ANALYSIS_SR, max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples at `sr`. Raises AudioRejected(code=...) with a reason for unusable files.

    With `max_seconds`, a file whose container declares more is refused before decoding, and decoding
    itself stops just past `max_seconds` (a container may declare nothing, or lie): memory stays bounded
    by `max_seconds` at `sr` for any file, however long it really is.
    """
    path = Path(path)
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        info = None
    if info is not None and info.samplerate:
        declared = info.frames / info.samplerate
        if max_seconds is not None and declared > max_seconds:
            raise _too_long(declared, max_seconds)
        samples = _soundfile_decode(path, info, sr, max_seconds)
    else:
        try:
            with path.open("rb") as handle:
                head = handle.read(256)
        except OSError as exc:
            raise AudioRejected(f"cannot read the audio file: {exc}", code="undecodable")
        if sniff_format(head) is None:
            raise AudioRejected("the file is not audio in a supported format", code="undecodable")
        if max_seconds is not None:
            declared = container_duration(path)
            if declared is not None and declared > max_seconds:
                raise _too_long(declared, max_seconds)
        samples = _ffmpeg_decode(path, sr, max_seconds)
        if max_seconds is not None and samples.size > max_seconds * sr:
            raise _too_long(samples.size / sr, max_seconds, at_least=True)
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
