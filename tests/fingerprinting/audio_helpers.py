"""Synthesized audio for the attribution tests (numpy and demo.synth only; nothing downloaded)."""

import io

import numpy as np
import soundfile
from django.core.files.uploadedfile import SimpleUploadedFile

from demo.synth import synthesize


def wav_bytes(
    samples: np.ndarray, sr: int = 22050, fmt: str = "WAV", subtype: str | None = "PCM_16"
) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sr, format=fmt, subtype=subtype)
    return buffer.getvalue()


def upload(data: bytes, name: str = "clip.wav") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def piece(seed: int, seconds: float, sr: int = 22050) -> np.ndarray:
    return synthesize(seed, seconds, sr=sr)
