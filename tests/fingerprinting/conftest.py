"""A small synthesized catalog for the attribution tests (8 recordings of 30 s).

Each recording joins three 10 s pieces of different seeds, so no stretch of it repeats (a single
synthesized piece repeats every 4 bars, which would make a verbatim excerpt's position ambiguous).
"""

from functools import lru_cache

import numpy as np
import pytest

from catalog.services import recording_attach_audio
from demo.synth import synthesize, write_wav
from fingerprinting.services import catalog_index_update
from tests.factories import LabelFactory, PartnerFactory, RecordingFactory

SR = 22050
N_RECORDINGS = 8


@lru_cache(maxsize=64)
def recording_audio(n: int) -> np.ndarray:
    parts = [synthesize(300 + 10 * n + k, 10.0, sr=SR) for k in range(3)]
    return np.concatenate(parts).astype(np.float32)


@lru_cache(maxsize=16)
def unrelated_audio(seed: int, seconds: float = 12.0) -> np.ndarray:
    return synthesize(900_000 + seed, seconds, sr=SR)


@pytest.fixture
def label():
    return LabelFactory(slug="attr-label", name="Attribution Label")


@pytest.fixture
def partner():
    return PartnerFactory(slug="attr-partner")


@pytest.fixture
def catalog(label, tmp_path):
    recordings = []
    for n in range(N_RECORDINGS):
        recording = RecordingFactory(label=label, title=f"Piece {n}", duration_seconds=30.0)
        path = tmp_path / f"rec-{n}.wav"
        write_wav(path, recording_audio(n), SR)
        recording_attach_audio(recording=recording, path=path)
        recordings.append(recording)
    return recordings


@pytest.fixture
def indexed(label, catalog):
    version = catalog_index_update(label=label)
    for recording in catalog:
        recording.refresh_from_db()
    return version


def write_analysed_version(
    label_id: int, entries: list, *, config, audio, previous=None, shards: int = 1
) -> str:
    """An index version of `entries` ((index row, analysis) pairs) written straight through
    fingerprinting.index, as the indexing service writes one, for a label that needs no database rows:
    a whole build or, given the previous version, an update (its standardizer kept). `audio(id)` returns
    a recording's samples at the engine's rate, for the calibration's leave-one-out queries."""
    from fingerprinting import engine
    from fingerprinting import index as catalog_index

    by_position = sorted(row["id"] for row, _analysis in entries)  # the index orders recordings by id
    return catalog_index.write_version(
        label_id=label_id,
        entries=entries,
        standardizer=previous.standardizer if previous is not None else None,
        embedder=catalog_index.get_embedder(),
        config=config,
        finish=lambda index: engine.finish_index(
            index, config=config, audio=lambda position: audio(by_position[position]), previous=previous
        ),
        previous=previous,
        shards=shards,
    )
