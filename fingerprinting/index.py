"""Where catalog index versions live: per label, versioned directories under MEDIA_ROOT holding the
arrays the engine (fingerprinting.engine.catalog) builds, swapped atomically.

Layout (MEDIA_ROOT/attribution/label-<id>/):
    recordings/<recording id>-<audio sha256[:16]>-<embedder>-<index engine>.npz   analysis cache
    versions/<version>/                                     one immutable index version
        meta.json        recordings table, standardizer, near-duplicate groups, calibration
        faiss.index      segment embeddings (IndexIDMap2 over IndexFlatIP, or IVF above the threshold)
        <name>.npy       every other array (segment tables, alignment chroma, inverted indexes)
    CURRENT          the name of the current version (replaced with os.replace: atomic)
    lock             flock'ed by writers so two builds never interleave

A new version is written to a temporary directory, renamed into place, then CURRENT is replaced: a
reader sees either the old or the new version, never a half-written one. Old versions stay on disk
(workers may still have them memory-mapped) until `prune_versions` removes all but the newest few.
"""

import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np
from django.conf import settings

from fingerprinting.engine import INDEX_ENGINE_VERSION, CatalogIndex, RecordingAnalysis, build_catalog
from fingerprinting.engine.catalog import IVF_NPROBE, catalog_from_arrays
from fingerprinting.engine.config import DEFAULT_CONFIG, EngineConfig
from fingerprinting.engine.embedder import Embedder, get_embedder

# One FAISS thread per worker process: Celery runs one process per core, and OpenMP threads on top of
# that only fight over the same cores.
faiss.omp_set_num_threads(int(os.environ.get("STEMMA_FAISS_THREADS", "1")))
KEEP_VERSIONS = 3

__all__ = ["get_embedder"]


def label_dir(label_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / "attribution" / f"label-{label_id}"


@contextmanager
def label_lock(label_id: int):
    directory = label_dir(label_id)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- per-recording analysis cache ---------------------------------------------------------------------
def analysis_path(label_id: int, recording_id: int, audio_sha256: str, embedder: Embedder) -> Path:
    name = f"{recording_id}-{audio_sha256[:16]}-{embedder.name}-{embedder.version}-{INDEX_ENGINE_VERSION}.npz"
    return label_dir(label_id) / "recordings" / name


def analysis_save(path: Path, analysis: RecordingAnalysis) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp.npz")
    np.savez(tmp, **analysis.to_arrays())
    os.replace(tmp, path)


def analysis_load(path: Path) -> RecordingAnalysis:
    with np.load(path) as data:
        return RecordingAnalysis.from_arrays({name: data[name] for name in data.files})


# -- index versions -----------------------------------------------------------------------------------
def version_name(number: int, recordings: list[dict], embedder: Embedder, engine_version: str) -> str:
    digest = hashlib.sha256(
        json.dumps(
            [engine_version, embedder.full_version, [[r["id"], r["sha"]] for r in recordings]], sort_keys=True
        ).encode()
    ).hexdigest()
    return f"v{number:05d}-{digest[:10]}"


def current_version(label_id: int) -> str | None:
    try:
        return (label_dir(label_id) / "CURRENT").read_text().strip() or None
    except FileNotFoundError:
        return None


def list_versions(label_id: int) -> list[str]:
    directory = label_dir(label_id) / "versions"
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and p.name.startswith("v"))


def write_version(
    *,
    label_id: int,
    entries: list[tuple[dict, RecordingAnalysis]],
    standardizer,
    embedder: Embedder,
    config: EngineConfig,
    finish: Callable[[CatalogIndex], dict],
    previous: CatalogIndex | None = None,
) -> str:
    """Write a new version from (recording row, analysis) pairs and make it current. Caller holds the
    label lock. `standardizer=None` fits a new one (full rebuild); `finish(index)` computes what needs
    the written index itself (near-duplicate groups, calibration) as meta keys."""
    entries = sorted(entries, key=lambda e: e[0]["id"])
    number = 1 + max((int(v[1:6]) for v in list_versions(label_id)), default=0)
    recordings_meta = [row for row, _a in entries]
    version = version_name(number, recordings_meta, embedder, INDEX_ENGINE_VERSION)
    built = build_catalog(
        entries,
        standardizer=standardizer,
        embedder=embedder,
        config=config,
        previous=previous,
        ivf_copy=lambda: faiss.read_index(str(previous.path / "faiss.index")),
    )
    versions_dir = label_dir(label_id) / "versions"
    versions_dir.mkdir(parents=True, exist_ok=True)
    tmp = versions_dir / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    faiss.write_index(built.faiss_index, str(tmp / "faiss.index"))
    for name, array in built.arrays.items():
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(array))
    meta = {
        "version": version,
        "label_id": label_id,
        "kind": built.kind,
        "embedder": embedder.name,
        "embedder_version": embedder.full_version,
        "engine_version": INDEX_ENGINE_VERSION,
        "standardizer": built.standardizer.to_json(),
        "recordings": recordings_meta,
        "n_segments": built.n_segments,
        "parent": previous.version if previous is not None else None,
        "near_duplicates": [],
        "calibration": {},
    }
    (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True))
    meta.update(finish(_load_dir(tmp, version, config)))
    (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True))
    final = versions_dir / version
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    swap_current(label_id, version)
    return version


def swap_current(label_id: int, version: str) -> None:
    directory = label_dir(label_id)
    if not (directory / "versions" / version / "meta.json").exists():
        raise FileNotFoundError(f"index version {version} does not exist")
    tmp = directory / f"CURRENT.{uuid.uuid4().hex}.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, directory / "CURRENT")


def prune_versions(label_id: int, keep: int = KEEP_VERSIONS) -> list[str]:
    current = current_version(label_id)
    versions = list_versions(label_id)
    doomed = [v for v in versions[:-keep] if v != current] if keep else []
    for version in doomed:
        shutil.rmtree(label_dir(label_id) / "versions" / version, ignore_errors=True)
    return doomed


class _Arrays:
    """The .npy files of a version directory, memory-mapped on first access."""

    def __init__(self, path: Path):
        self.path = path

    def __getitem__(self, name: str) -> np.ndarray:
        return np.load(self.path / f"{name}.npy", mmap_mode="r")


def _load_dir(path: Path, version: str, config: EngineConfig) -> CatalogIndex:
    meta = json.loads((path / "meta.json").read_text())
    try:
        faiss_index = faiss.read_index(str(path / "faiss.index"), faiss.IO_FLAG_MMAP)
    except RuntimeError:
        faiss_index = faiss.read_index(str(path / "faiss.index"))
    if meta["kind"] == "ivf":
        faiss.extract_index_ivf(faiss_index).nprobe = meta.get("nprobe", IVF_NPROBE)
    return catalog_from_arrays(
        version=version,
        meta=meta,
        arrays=_Arrays(path),
        faiss_index=faiss_index,
        embedder=get_embedder(meta["embedder"]),
        config=config,
        path=path,
    )


def load_version(label_id: int, version: str, config: EngineConfig = DEFAULT_CONFIG) -> CatalogIndex:
    return _load_dir(label_dir(label_id) / "versions" / version, version, config)


# Workers load an index once and keep it; each use checks CURRENT (one small read) and reloads when a
# new version was swapped in.
_loaded: dict[str, CatalogIndex] = {}


def open_current(label_id: int, config: EngineConfig = DEFAULT_CONFIG) -> CatalogIndex | None:
    version = current_version(label_id)
    if version is None:
        return None
    key = str(label_dir(label_id))
    cached = _loaded.get(key)
    if cached is not None and cached.version == version and cached.path.exists():
        return cached
    loaded = load_version(label_id, version, config)
    _loaded[key] = loaded
    return loaded


def forget_loaded() -> None:
    _loaded.clear()
