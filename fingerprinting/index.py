"""Where catalog index versions live: per label, immutable version objects in the `indexes` storage
(config/storage.py: a folder under MEDIA_ROOT by default, an S3-compatible bucket in production), a
CURRENT pointer object naming the current one, and on each worker host a local cache of versions
keyed by version id, which the engine (fingerprinting.engine.catalog) memory-maps.

Stored layout (storage names):
    attribution/label-<id>/recordings/<recording id>-<audio sha256[:16]>-<embedder>-<engine>.npz
                                                            analysis cache
    attribution/label-<id>/versions/<version>/              one immutable index version
        meta.json        recordings table, standardizer, near-duplicate groups, calibration
        faiss.index      segment embeddings (IndexIDMap2 over IndexFlatIP, or IVF above the threshold)
        <name>.npy       every other array (segment tables, alignment chroma, inverted indexes)
    attribution/label-<id>/CURRENT                          the name of the current version

Local cache (INDEX_CACHE_DIR/label-<id>/<version>/): a version is downloaded into a temporary folder
and renamed into place, so a cached version is always whole. A worker that sees CURRENT name a new
version fetches it completely before it switches to it (until then it keeps serving the old one), and
then evicts all but the newest few cached versions (mapped files stay readable after unlinking).

A writer builds the new version in its own cache, uploads every file, and only then replaces CURRENT:
a reader sees either the old or the new version, never a half-written one. Old stored versions stay
(workers may still be fetching them) until `prune_versions` removes all but the newest few.
"""

import fcntl
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np
import scipy.linalg  # noqa: F401  (loads scipy's OpenBLAS before the limit below)
import threadpoolctl
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import connection

from fingerprinting.engine import INDEX_ENGINE_VERSION, CatalogIndex, RecordingAnalysis, build_catalog
from fingerprinting.engine.catalog import IVF_NPROBE, catalog_from_arrays
from fingerprinting.engine.config import DEFAULT_CONFIG, EngineConfig
from fingerprinting.engine.embedder import Embedder, get_embedder

# One FAISS thread per worker process: Celery runs one process per core, and OpenMP threads on top of
# that only fight over the same cores.
faiss.omp_set_num_threads(int(os.environ.get("STEMMA_FAISS_THREADS", "1")))
# The same for numpy's and scipy's OpenBLAS, which start a thread per core by default: an attribution
# multiplies small matrices (windows x dimensions), where a second thread mostly spins waiting for work
# and takes CPU from the other worker process.
threadpoolctl.threadpool_limits(int(os.environ.get("STEMMA_BLAS_THREADS", "1")), user_api="blas")
KEEP_VERSIONS = 3
# Versions each worker host keeps in its local cache: the current one and the one before it (a clip
# that started on it may still be running in another process, and a rollback is then free).
KEEP_CACHED = 2
# pg_advisory_lock's first key: a namespace so the label id cannot collide with another lock's key.
ADVISORY_LOCK_NAMESPACE = 17_001

__all__ = ["get_embedder"]


def index_storage() -> Storage:
    return storages["indexes"]


def label_prefix(label_id: int) -> str:
    return f"attribution/label-{label_id}"


def version_prefix(label_id: int, version: str) -> str:
    return f"{label_prefix(label_id)}/versions/{version}"


def cache_dir(label_id: int) -> Path:
    return Path(settings.INDEX_CACHE_DIR) / f"label-{label_id}"


@contextmanager
def label_lock(label_id: int):
    """Serialises index writers of one label across every host: a PostgreSQL advisory lock (session
    level, so it outlives the transactions inside), or a file lock where there is one host (SQLite)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, label_id])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ADVISORY_LOCK_NAMESPACE, label_id])
        return
    directory = cache_dir(label_id)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- per-recording analysis cache ---------------------------------------------------------------------
def analysis_path(label_id: int, recording_id: int, audio_sha256: str, embedder: Embedder) -> str:
    """The storage name of a recording's cached analysis."""
    name = f"{recording_id}-{audio_sha256[:16]}-{embedder.name}-{embedder.version}-{INDEX_ENGINE_VERSION}.npz"
    return f"{label_prefix(label_id)}/recordings/{name}"


def analysis_exists(name: str) -> bool:
    return index_storage().exists(name)


def analysis_save(name: str, analysis: RecordingAnalysis) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **analysis.to_arrays())
    index_storage().save(name, ContentFile(buffer.getvalue()))


def analysis_load(name: str) -> RecordingAnalysis:
    with index_storage().open(name, "rb") as handle:
        raw = handle.read()
    with np.load(io.BytesIO(raw)) as data:
        return RecordingAnalysis.from_arrays({key: data[key] for key in data.files})


# -- index versions -----------------------------------------------------------------------------------
def version_name(number: int, recordings: list[dict], embedder: Embedder, engine_version: str) -> str:
    digest = hashlib.sha256(
        json.dumps(
            [engine_version, embedder.full_version, [[r["id"], r["sha"]] for r in recordings]], sort_keys=True
        ).encode()
    ).hexdigest()
    return f"v{number:05d}-{digest[:10]}"


def current_version(label_id: int) -> str | None:
    """What CURRENT names: one small read of the pointer object."""
    storage = index_storage()
    try:
        with storage.open(f"{label_prefix(label_id)}/CURRENT", "rb") as handle:
            return handle.read().decode().strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:  # S3 reports a missing object as an OSError subclass with its own message
        if not storage.exists(f"{label_prefix(label_id)}/CURRENT"):
            return None
        raise exc


def list_versions(label_id: int) -> list[str]:
    storage = index_storage()
    directory = f"{label_prefix(label_id)}/versions"
    try:
        folders, _files = storage.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(name for name in folders if name.startswith("v"))


def _upload(local: Path, label_id: int, version: str) -> None:
    """Every file of a version, meta.json last: a version's meta.json exists only once it is whole."""
    storage = index_storage()
    prefix = version_prefix(label_id, version)
    names = sorted(p.name for p in local.iterdir() if p.name != "meta.json") + ["meta.json"]
    for name in names:
        with open(local / name, "rb") as handle:
            stored = storage.save(f"{prefix}/{name}", File(handle))
        if stored != f"{prefix}/{name}":
            raise RuntimeError(f"the index storage renamed {prefix}/{name} to {stored}: it must overwrite")


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
    cache = cache_dir(label_id)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
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
        _upload(tmp, label_id, version)
        final = cache / version
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    swap_current(label_id, version)
    return version


def swap_current(label_id: int, version: str) -> None:
    storage = index_storage()
    if not storage.exists(f"{version_prefix(label_id, version)}/meta.json"):
        raise FileNotFoundError(f"index version {version} does not exist")
    stored = storage.save(f"{label_prefix(label_id)}/CURRENT", ContentFile((version + "\n").encode()))
    if stored != f"{label_prefix(label_id)}/CURRENT":
        raise RuntimeError(f"the index storage renamed CURRENT to {stored}: it must overwrite")


def prune_versions(label_id: int, keep: int = KEEP_VERSIONS) -> list[str]:
    current = current_version(label_id)
    versions = list_versions(label_id)
    doomed = [v for v in versions[:-keep] if v != current] if keep else []
    storage = index_storage()
    for version in doomed:
        prefix = version_prefix(label_id, version)
        _folders, files = storage.listdir(prefix)
        # meta.json first: a half-deleted version is no longer a version to anyone who looks.
        for name in sorted(files, key=lambda n: n != "meta.json"):
            storage.delete(f"{prefix}/{name}")
    return doomed


def fetch_version(label_id: int, version: str) -> Path:
    """The version's local folder, downloading it first if this host has not got it yet."""
    local = cache_dir(label_id) / version
    if (local / "meta.json").exists():
        return local
    storage = index_storage()
    prefix = version_prefix(label_id, version)
    if not storage.exists(f"{prefix}/meta.json"):
        raise FileNotFoundError(f"index version {version} does not exist")
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.parent / f".fetch-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        _folders, files = storage.listdir(prefix)
        for name in files:
            with storage.open(f"{prefix}/{name}", "rb") as source, open(tmp / name, "wb") as out:
                shutil.copyfileobj(source, out, length=4 * 1024 * 1024)
        try:
            os.replace(tmp, local)
        except OSError:  # another process on this host fetched it first: theirs is as good
            if not (local / "meta.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return local


def evict_cached(label_id: int, keep: int = KEEP_CACHED, pinned: tuple[str, ...] = ()) -> list[str]:
    """Remove all but the newest `keep` cached versions of a label (and the pinned ones)."""
    directory = cache_dir(label_id)
    if not directory.exists():
        return []
    cached = sorted(p.name for p in directory.iterdir() if p.is_dir() and p.name.startswith("v"))
    doomed = [v for v in cached[:-keep] if v not in pinned] if keep else []
    for version in doomed:
        shutil.rmtree(directory / version, ignore_errors=True)
    return doomed


class _Arrays:
    """The .npy files of a local version folder, memory-mapped on first access."""

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
    return _load_dir(fetch_version(label_id, version), version, config)


# Workers load an index once and keep it; each use checks CURRENT (one small read) and, when a new
# version was swapped in, fetches it whole into the local cache before switching to it.
_loaded: dict[tuple[str, int], CatalogIndex] = {}


def open_current(label_id: int, config: EngineConfig = DEFAULT_CONFIG) -> CatalogIndex | None:
    version = current_version(label_id)
    if version is None:
        return None
    key = (str(settings.INDEX_CACHE_DIR), label_id)
    cached = _loaded.get(key)
    if cached is not None and cached.version == version and cached.path.exists():
        return cached
    loaded = load_version(label_id, version, config)
    _loaded[key] = loaded
    evict_cached(label_id, pinned=(version,))
    return loaded


def forget_loaded() -> None:
    _loaded.clear()
