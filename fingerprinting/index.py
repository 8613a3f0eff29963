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
        composition.index, composition_*.npy
                         the composition lane's patch index, written when the lane is on (meta key
                         composition_patches: the settings it was built with)
    attribution/label-<id>/CURRENT                          the name of the current version

A version of more than INDEX_SHARD_ABOVE_SEGMENTS segments is written in INDEX_SHARD_COUNT shards by
recording id (fingerprinting.engine.shards): its folder then holds only meta.json, which lists the
shards, and each shard is its own immutable set of objects, named by its content, so a version whose
shard did not change (same recordings, standardizer and FAISS training) reuses the stored one:
    attribution/label-<id>/shards/s<k>of<N>-<digest>/     one shard (id % N == k)
        shard.json       its recordings table and segment count (written last)
        faiss.index, <name>.npy                             as a version's, over its recordings only
A version without a shard list (every version written before shards, and every version at or below
the threshold) is read as it always was: one index, which is one shard.

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

from fingerprinting.engine import (
    INDEX_ENGINE_VERSION,
    CatalogIndex,
    RecordingAnalysis,
    build_catalog,
    composition,
)
from fingerprinting.engine.catalog import (
    IVF_NPROBE,
    IVF_THRESHOLD,
    catalog_from_arrays,
    faiss_template,
    fit_standardizer,
    standardized_vectors,
)
from fingerprinting.engine.config import DEFAULT_CONFIG, EngineConfig
from fingerprinting.engine.embedder import Embedder, Standardizer, get_embedder
from fingerprinting.engine.shards import LocalShard, Shard, ShardedCatalog, split_entries
from fingerprinting.shard_queues import RemoteShard

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


def shard_prefix(label_id: int, name: str) -> str:
    return f"{label_prefix(label_id)}/shards/{name}"


def shard_cache_dir(label_id: int) -> Path:
    return cache_dir(label_id) / "shards"


def shard_count(n_segments: int) -> int:
    """How many shards a version of this many segments is written in (settings; 1: unsharded)."""
    count = settings.INDEX_SHARD_COUNT
    return count if count > 1 and n_segments > settings.INDEX_SHARD_ABOVE_SEGMENTS else 1


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


def _upload(local: Path, prefix: str, last: str = "meta.json") -> None:
    """Every file of a version (or shard), `last` last: it exists only once the rest is whole."""
    storage = index_storage()
    names = sorted(p.name for p in local.iterdir() if p.name != last) + [last]
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
    shards: int | None = None,
) -> str:
    """Write a new version from (recording row, analysis) pairs and make it current. Caller holds the
    label lock. `standardizer=None` fits a new one (full rebuild); `finish(index)` computes what needs
    the written index itself (near-duplicate groups, calibration) as meta keys, over the whole catalog
    (the merged view when sharded). `shards` overrides the settings' shard count (1: unsharded)."""
    entries = sorted(entries, key=lambda e: e[0]["id"])
    number = 1 + max((int(v[1:6]) for v in list_versions(label_id)), default=0)
    recordings_meta = [row for row, _a in entries]
    version = version_name(number, recordings_meta, embedder, INDEX_ENGINE_VERSION)
    if shards is None:
        shards = shard_count(sum(len(a.segments.raw) for _r, a in entries))
    cache = cache_dir(label_id)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        if shards > 1:
            layout = _write_shards(
                label_id=label_id,
                entries=entries,
                count=shards,
                standardizer=standardizer,
                embedder=embedder,
                config=config,
                previous=previous,
            )
        else:
            layout = _write_whole(
                tmp,
                entries=entries,
                standardizer=standardizer,
                embedder=embedder,
                config=config,
                previous=previous,
            )
        meta = {
            "version": version,
            "label_id": label_id,
            "embedder": embedder.name,
            "embedder_version": embedder.full_version,
            "engine_version": INDEX_ENGINE_VERSION,
            "recordings": recordings_meta,
            "parent": previous.version if previous is not None else None,
            "near_duplicates": [],
            "calibration": {},
            **layout,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True))
        written = _load_dir(tmp, version, config)
        if standardizer is not None:  # an update, not a rebuild: so is the patch index, where it can be
            written._composition_patches = _updated_patch_index(written, previous, config)
        meta.update(finish(written))
        meta.update(write_patch_index(tmp, written, config))
        (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True))
        _upload(tmp, version_prefix(label_id, version))
        final = cache / version
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    swap_current(label_id, version)
    return version


def _write_arrays(folder: Path, built) -> None:
    faiss.write_index(built.faiss_index, str(folder / "faiss.index"))
    for name, array in built.arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array))


PATCH_INDEX_FILE = "composition.index"


def write_patch_index(folder: Path, index: CatalogIndex, config: EngineConfig) -> dict:
    """With the composition lane on, its patch index (usually built already by the calibration's
    leave-one-out queries) stored in the version's folder, so that no worker process builds its own
    (283-390 s of CPU at 50,000 recordings; reading it takes about 3 s). The meta key names the
    settings it was built with (composition.patch_params)."""
    if not config.composition.enabled:
        return {}
    patches = composition.patch_index(index, config.composition)
    faiss.write_index(patches.faiss_index, str(folder / PATCH_INDEX_FILE))
    for name, array in patches.arrays().items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(array))
    return {"composition_patches": composition.patch_params(config.composition)}


def _updated_patch_index(written: CatalogIndex, previous: CatalogIndex | None, config: EngineConfig):
    """The previous version's stored inverted patch index updated to the written version's recordings
    (composition.PatchIndex.updated), as the segment index's IVF is: at 50,000 recordings a whole build
    is 283 s or more of CPU, adding a few recordings a second. None (built whole on first use) where
    there is none to update or the settings differ."""
    if not config.composition.enabled or previous is None or previous.path is None:
        return None
    reader = patch_index_reader(Path(previous.path), previous.meta)
    stored = reader(composition.patch_params(config.composition)) if reader is not None else None
    if stored is None:
        return None
    parent = composition.PatchIndex.from_stored(*stored, config.composition)  # read whole: a private copy
    return composition.PatchIndex.updated(parent, previous.recordings, written, config.composition)


def patch_index_reader(path: Path, meta: dict):
    """`CatalogIndex.stored_patches` for a version folder: its stored patch index when it was built
    with the settings asked for, else None (the lane then builds one in memory)."""
    stored = meta.get("composition_patches")

    def read(params: dict):
        if stored != params or not (path / PATCH_INDEX_FILE).exists():
            return None
        # Read whole, not memory-mapped: scanning a mapped inverted file of 1.3 GiB (50,000 recordings)
        # took 1,240-1,340 ms a clip against 900 ms read whole (6 clips each, retrieve() on the index
        # bench/composition_scale.py --store kept; docs/attribution.md). An exact index searches as fast
        # either way, but it is small. `_updated_patch_index` also relies on a private copy: it changes
        # the index it reads into the new version's.
        return faiss.read_index(str(path / PATCH_INDEX_FILE)), _Arrays(path)

    return read if stored else None


def _write_whole(
    tmp: Path, *, entries, standardizer, embedder: Embedder, config: EngineConfig, previous
) -> dict:
    """The unsharded layout: the index's files in the version's own folder."""
    if isinstance(previous, ShardedCatalog):
        previous = None  # its IVF segments are spread over shards: the incremental IVF path needs one index
    built = build_catalog(
        entries,
        standardizer=standardizer,
        embedder=embedder,
        config=config,
        previous=previous,
        ivf_copy=lambda: faiss.read_index(str(_faiss_path(previous))),
    )
    _write_arrays(tmp, built)
    return {"kind": built.kind, "standardizer": built.standardizer.to_json(), "n_segments": built.n_segments}


def _faiss_path(index: CatalogIndex) -> Path:
    """Where a loaded version's FAISS index file is (its first shard's when sharded)."""
    if isinstance(index, ShardedCatalog):
        return Path(index.shards[0].index.path) / "faiss.index"
    return Path(index.path) / "faiss.index"


def _shard_template(vectors: np.ndarray, previous: CatalogIndex | None):
    """The FAISS index every shard copies: above the IVF threshold, the previous version's trained
    quantizer when it had one (as the unsharded incremental path keeps it), else one trained now."""
    if previous is not None and previous.meta.get("kind") == "ivf" and len(vectors) > IVF_THRESHOLD:
        template = faiss.read_index(str(_faiss_path(previous)))
        template.reset()
        return template
    return faiss_template(vectors)


def shard_name(
    k: int, count: int, entries, standardizer, embedder: Embedder, config: EngineConfig, template
) -> str:
    """A shard's name, from everything its content depends on: the same recordings, standardizer and
    FAISS training give the same shard, which a later version then reuses as stored."""
    digest = hashlib.sha256(
        json.dumps(
            [
                INDEX_ENGINE_VERSION,
                embedder.full_version,
                config.chromaprint.key_bits,
                standardizer.to_json(),
                [[r["id"], r["sha"]] for r, _a in entries],
            ],
            sort_keys=True,
        ).encode()
    )
    digest.update(faiss.serialize_index(template).tobytes())
    return f"s{k}of{count}-{digest.hexdigest()[:12]}"


def _write_shards(
    *, label_id: int, entries, count: int, standardizer, embedder: Embedder, config: EngineConfig, previous
) -> dict:
    """The sharded layout: each shard built, uploaded and cached on its own (or reused when stored);
    the version's meta lists them. The standardizer and the FAISS training are the whole catalog's."""
    if standardizer is None:
        standardizer = fit_standardizer(entries, embedder)
    vectors = standardized_vectors(entries, standardizer, embedder)
    template = _shard_template(vectors, previous)
    starts = np.cumsum([0] + [len(a.segments.raw) for _r, a in entries])
    row_of = {r["id"]: (int(starts[i]), int(starts[i + 1])) for i, (r, _a) in enumerate(entries)}
    storage = index_storage()
    listed = []
    for k, part in enumerate(split_entries(entries, count)):
        name = shard_name(k, count, part, standardizer, embedder, config, template)
        rows = [np.arange(*row_of[r["id"]]) for r, _a in part]
        mine = vectors[np.concatenate(rows)] if rows else vectors[:0]
        for r, a in part:
            r["segments"] = len(a.segments.raw)
        if storage.exists(f"{shard_prefix(label_id, name)}/shard.json"):
            fetch_shard(label_id, name)
        else:
            built = build_catalog(
                part,
                standardizer=standardizer,
                embedder=embedder,
                config=config,
                vectors=mine,
                template=template,
            )
            _store_shard(
                label_id,
                name,
                built,
                {"shard": k, "count": count, "recordings": [r for r, _a in part]},
            )
        listed.append(
            {"name": name, "shard": k, "count": count, "n_recordings": len(part), "n_segments": len(mine)}
        )
    return {
        "kind": "ivf" if faiss.try_extract_index_ivf(template) is not None else "flat",
        "standardizer": standardizer.to_json(),
        "n_segments": len(vectors),
        "shards": listed,
    }


def _store_shard(label_id: int, name: str, built, info: dict) -> None:
    """Write a shard in this host's cache, upload it (shard.json last), and rename it into place."""
    directory = shard_cache_dir(label_id)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        _write_arrays(tmp, built)
        shard_meta = {"name": name, "kind": built.kind, "n_segments": built.n_segments, **info}
        (tmp / "shard.json").write_text(json.dumps(shard_meta, sort_keys=True))
        _upload(tmp, shard_prefix(label_id, name), last="shard.json")
        final = directory / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _download(
    prefix: str, target: Path, last: str, before_rename: Callable[[Path], None] | None = None
) -> None:
    """Every object under `prefix` into a temporary folder beside `target`, renamed into place whole
    (`before_rename(folder)` first: a version's shards are fetched before the version is)."""
    storage = index_storage()
    if not storage.exists(f"{prefix}/{last}"):
        raise FileNotFoundError(f"index object {prefix} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".fetch-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        _folders, files = storage.listdir(prefix)
        for name in files:
            with storage.open(f"{prefix}/{name}", "rb") as source, open(tmp / name, "wb") as out:
                shutil.copyfileobj(source, out, length=4 * 1024 * 1024)
        if before_rename is not None:
            before_rename(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process on this host fetched it first: theirs is as good
            if not (target / last).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_shard(label_id: int, name: str) -> Path:
    """A shard's local folder, downloading it first if this host has not got it yet."""
    local = shard_cache_dir(label_id) / name
    if not (local / "shard.json").exists():
        _download(shard_prefix(label_id, name), local, "shard.json")
    return local


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
    if doomed:
        _prune_shards(label_id)
    return doomed


def _shards_of(meta_text: str) -> set[str]:
    return {shard["name"] for shard in json.loads(meta_text).get("shards", [])}


def _prune_shards(label_id: int) -> None:
    """Delete the stored shards no remaining version lists (shard.json first, as meta.json above)."""
    storage = index_storage()
    listed: set[str] = set()
    for version in list_versions(label_id):
        name = f"{version_prefix(label_id, version)}/meta.json"
        if storage.exists(name):
            with storage.open(name, "rb") as handle:
                listed |= _shards_of(handle.read().decode())
    try:
        stored, _files = storage.listdir(f"{label_prefix(label_id)}/shards")
    except FileNotFoundError:
        return
    for name in stored:
        if name in listed:
            continue
        prefix = shard_prefix(label_id, name)
        _folders, files = storage.listdir(prefix)
        for file in sorted(files, key=lambda n: n != "shard.json"):
            storage.delete(f"{prefix}/{file}")


def fetch_version(label_id: int, version: str, *, shards: bool | None = None) -> Path:
    """The version's local folder, downloading it first if this host has not got it yet (a sharded
    version's shards before its meta.json, so a cached version is always whole; unless `shards` is
    False, or INDEX_SHARD_QUEUES says shard workers hold them: then they fetch their own)."""
    local = cache_dir(label_id) / version
    if shards is None:
        shards = not settings.INDEX_SHARD_QUEUES

    def fetch_shards(folder: Path) -> None:
        for shard in json.loads((folder / "meta.json").read_text()).get("shards", []) if shards else []:
            fetch_shard(label_id, shard["name"])

    if (local / "meta.json").exists():
        fetch_shards(local)  # fetched by a host that left them to shard workers: a no-op otherwise
    else:
        try:
            _download(version_prefix(label_id, version), local, "meta.json", fetch_shards)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"index version {version} does not exist") from exc
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
    shards = shard_cache_dir(label_id)
    if shards.exists():
        listed: set[str] = set()
        for kept in directory.iterdir():
            if kept.name.startswith("v") and (kept / "meta.json").exists():
                listed |= _shards_of((kept / "meta.json").read_text())
        for shard in shards.iterdir():
            if not shard.name.startswith(".") and shard.name not in listed:
                shutil.rmtree(shard, ignore_errors=True)
    return doomed


class _Arrays:
    """The .npy files of a local version folder, memory-mapped on first access."""

    def __init__(self, path: Path):
        self.path = path

    def __getitem__(self, name: str) -> np.ndarray:
        return np.load(self.path / f"{name}.npy", mmap_mode="r")


def _read_faiss(path: Path, meta: dict):
    try:
        faiss_index = faiss.read_index(str(path / "faiss.index"), faiss.IO_FLAG_MMAP)
    except RuntimeError:
        faiss_index = faiss.read_index(str(path / "faiss.index"))
    if meta["kind"] == "ivf":
        faiss.extract_index_ivf(faiss_index).nprobe = meta.get("nprobe", IVF_NPROBE)
    return faiss_index


def _load_shard_dir(path: Path, version_meta: dict, config: EngineConfig) -> CatalogIndex:
    """One shard as an index of its own recordings (local positions), with the version's standardizer."""
    meta = {
        **json.loads((path / "shard.json").read_text()),
        "standardizer": version_meta["standardizer"],
        "nprobe": version_meta.get("nprobe", IVF_NPROBE),
    }
    return catalog_from_arrays(
        version=meta["name"],
        meta=meta,
        arrays=_Arrays(path),
        faiss_index=_read_faiss(path, meta),
        embedder=get_embedder(version_meta["embedder"]),
        config=config,
        path=path,
    )


def _load_sharded(path: Path, version: str, meta: dict, config: EngineConfig) -> ShardedCatalog:
    """A sharded version: its shards from this host's shard cache (beside the version folders),
    merged by the engine (fingerprinting.engine.shards)."""
    count = len(meta["shards"])
    ids = np.array([row["id"] for row in meta["recordings"]], dtype=np.int64)
    positions = [np.nonzero(ids % count == k)[0] for k in range(count)]  # engine.shards.shard_of
    shards: list[Shard] = []
    for k, listed in enumerate(meta["shards"]):
        if settings.INDEX_SHARD_QUEUES:
            shards.append(
                RemoteShard(label_id=meta["label_id"], version=version, k=k, n_segments=listed["n_segments"])
            )
            continue
        shard = _load_shard_dir(path.parent / "shards" / listed["name"], meta, config)
        if [r["id"] for r in shard.recordings] != ids[positions[k]].tolist():
            raise ValueError(f"shard {listed['name']} does not hold the recordings version {version} lists")
        shards.append(LocalShard(shard))
    catalog = ShardedCatalog(
        version=version,
        meta=meta,
        shards=shards,
        positions=positions,
        standardizer=Standardizer.from_json(meta["standardizer"]),
        embedder=get_embedder(meta["embedder"]),
        key_bits=config.chromaprint.key_bits,
        path=path,
    )
    catalog.stored_patches = patch_index_reader(path, meta)  # in the version's own folder, not a shard's
    return catalog


def load_shard(label_id: int, version: str, k: int, config: EngineConfig = DEFAULT_CONFIG) -> CatalogIndex:
    """Shard k of a version alone (what a worker serving one shard maps), fetched if need be."""
    meta = json.loads((fetch_version(label_id, version, shards=False) / "meta.json").read_text())
    listed = meta.get("shards")
    if not listed:
        if k != 0:
            raise ValueError(f"index version {version} is not sharded: it has shard 0 only")
        return load_version(label_id, version, config)
    return _load_shard_dir(fetch_shard(label_id, listed[k]["name"]), meta, config)


def _load_dir(path: Path, version: str, config: EngineConfig) -> CatalogIndex:
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("shards"):
        return _load_sharded(path, version, meta, config)
    catalog = catalog_from_arrays(
        version=version,
        meta=meta,
        arrays=_Arrays(path),
        faiss_index=_read_faiss(path, meta),
        embedder=get_embedder(meta["embedder"]),
        config=config,
        path=path,
    )
    catalog.stored_patches = patch_index_reader(path, meta)
    return catalog


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
