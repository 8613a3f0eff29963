"""The catalog index: per label, versioned directories under MEDIA_ROOT holding everything a worker
needs to attribute a clip, swapped atomically.

Layout (MEDIA_ROOT/attribution/label-<id>/):
    recordings/<recording id>-<audio sha256[:16]>-<embedder>.npz   per-recording analysis (cache)
    versions/<version>/                                            one immutable index version
        meta.json        recordings table, standardizer, calibration, parameters
        faiss.index      segment embeddings (IndexIDMap2 over IndexFlatIP, or IVF above IVF_THRESHOLD)
        vectors.npy      the same embeddings (per-aspect evidence, null samples); memory-mapped
        seg_ids.npy seg_rec.npy seg_start.npy seg_end.npy
        chroma.npy chroma_offsets.npy                               alignment chroma (uint8)
        fp_*.npy                                                    Chromaprint inverted index
    CURRENT          the name of the current version (replaced with os.replace: atomic)
    lock             flock'ed by writers so two builds never interleave

A new version is written to a temporary directory, renamed into place, then CURRENT is replaced: a
reader sees either the old or the new version, never a half-written one. Old versions stay on disk
(workers may still have them memory-mapped) until `index_prune` removes all but the newest few.
"""

import fcntl
import hashlib
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from django.conf import settings

from fingerprinting.embedder import Embedder, Segments, Standardizer, get_embedder
from fingerprinting.landmarks import LandmarkIndex
from fingerprinting.verbatim import VerbatimIndex

# Exact inner-product search up to this many segments; IVF above it (docs/attribution.md, measured by
# bench/attribution_speed.py).
IVF_THRESHOLD = 1_000_000
IVF_NPROBE = 16
# One FAISS thread per worker process: Celery runs one process per core, and OpenMP threads on top of
# that only fight over the same cores.
faiss.omp_set_num_threads(int(os.environ.get("STEMMA_FAISS_THREADS", "1")))
SEGMENT_BITS = 20  # segment id = recording id << SEGMENT_BITS | window number
KEEP_VERSIONS = 3


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


# -- per-recording analysis ---------------------------------------------------------------------------
@dataclass
class RecordingAnalysis:
    recording_id: int
    isrc: str
    title: str
    duration: float
    fingerprint: np.ndarray  # uint32
    segments: Segments
    landmark_hashes: np.ndarray  # uint32
    landmark_times: np.ndarray  # int32 anchor frames

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp.npz")
        np.savez(
            tmp,
            fingerprint=self.fingerprint,
            landmark_hashes=self.landmark_hashes,
            landmark_times=self.landmark_times,
            raw=self.segments.raw,
            starts=self.segments.starts,
            ends=self.segments.ends,
            chroma=np.clip(np.round((self.segments.chroma + 1.0) * 127.5), 0, 255).astype(np.uint8),
            meta=np.array(json.dumps([self.recording_id, self.isrc, self.title, self.duration])),
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "RecordingAnalysis":
        with np.load(path) as data:
            recording_id, isrc, title, duration = json.loads(str(data["meta"]))
            return cls(
                recording_id=recording_id,
                isrc=isrc,
                title=title,
                duration=duration,
                fingerprint=data["fingerprint"],
                landmark_hashes=data["landmark_hashes"],
                landmark_times=data["landmark_times"],
                segments=Segments(
                    starts=data["starts"],
                    ends=data["ends"],
                    raw=data["raw"],
                    chroma=data["chroma"].astype(np.float32) / 127.5 - 1.0,
                ),
            )


def analysis_path(label_id: int, recording_id: int, audio_sha256: str, embedder: Embedder) -> Path:
    name = f"{recording_id}-{audio_sha256[:16]}-{embedder.name}-{embedder.version}.npz"
    return label_dir(label_id) / "recordings" / name


# -- an index version ---------------------------------------------------------------------------------
@dataclass
class CatalogIndex:
    """One loaded index version (arrays memory-mapped where possible)."""

    version: str
    path: Path
    meta: dict
    faiss_index: object
    vectors: np.ndarray
    seg_ids: np.ndarray
    seg_rec: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray
    chroma: np.ndarray
    chroma_offsets: np.ndarray
    verbatim: VerbatimIndex
    landmarks: LandmarkIndex
    standardizer: Standardizer
    embedder: Embedder
    _chroma_cache: dict = field(default_factory=dict)

    @property
    def recordings(self) -> list[dict]:
        return self.meta["recordings"]

    @property
    def n_recordings(self) -> int:
        return len(self.meta["recordings"])

    def recording_chroma(self, position: int) -> np.ndarray:
        cached = self._chroma_cache.get(position)
        if cached is None:
            a, b = int(self.chroma_offsets[position]), int(self.chroma_offsets[position + 1])
            cached = self.chroma[a:b].astype(np.float32) / 127.5 - 1.0
            if len(self._chroma_cache) < 4096:
                self._chroma_cache[position] = cached
        return cached


def _write_npy(directory: Path, name: str, array: np.ndarray) -> None:
    np.save(directory / f"{name}.npy", np.ascontiguousarray(array))


def _faiss_new(dim: int, vectors: np.ndarray) -> object:
    n = len(vectors)
    if n <= IVF_THRESHOLD:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    # nlist ~ sqrt(n) and nprobe 16: recall@10 0.995 at 0.8 ms per query for a million segments with
    # the statistics of our embeddings (bench/attribution_speed.py).
    nlist = int(np.sqrt(n))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = vectors[np.random.default_rng(0).choice(n, min(n, 64 * nlist), replace=False)]
    index.train(np.ascontiguousarray(sample))
    index.nprobe = IVF_NPROBE
    return index


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
    standardizer: Standardizer | None,
    embedder: Embedder,
    engine_version: str,
    calibrate,
    previous: "CatalogIndex | None" = None,
) -> str:
    """Write a new version from (recording row, analysis) pairs and make it current. Caller holds the
    label lock. `standardizer=None` fits a new one (full rebuild); `calibrate(index) -> dict` computes
    the null calibration for the new version (or reuses the previous one's when given)."""
    entries = sorted(entries, key=lambda e: e[0]["id"])
    existing = list_versions(label_id)
    number = 1 + max((int(v[1:6]) for v in existing), default=0)
    recordings_meta = [row for row, _a in entries]
    version = version_name(number, recordings_meta, embedder, engine_version)
    raw = (
        np.concatenate([a.segments.raw for _r, a in entries])
        if entries
        else np.zeros((0, embedder.dim), np.float32)
    )
    if standardizer is None:
        standardizer = Standardizer.fit(
            raw if len(raw) else np.zeros((2, embedder.dim), np.float32), embedder
        )
    vectors = standardizer.transform(raw) if len(raw) else np.zeros((0, embedder.dim), np.float32)
    seg_ids, seg_rec, seg_start, seg_end, chroma, chroma_offsets = [], [], [], [], [], [0]
    for position, (row, analysis) in enumerate(entries):
        n = len(analysis.segments.raw)
        seg_ids.append((np.int64(row["id"]) << SEGMENT_BITS) + np.arange(n, dtype=np.int64))
        seg_rec.append(np.full(n, position, dtype=np.int32))
        seg_start.append(analysis.segments.starts.astype(np.float32))
        seg_end.append(analysis.segments.ends.astype(np.float32))
        chroma.append(np.clip(np.round((analysis.segments.chroma + 1.0) * 127.5), 0, 255).astype(np.uint8))
        chroma_offsets.append(chroma_offsets[-1] + len(analysis.segments.chroma))
        row["segments"] = n
    cat = np.concatenate
    seg_ids_a = cat(seg_ids) if seg_ids else np.zeros(0, np.int64)
    if previous is not None and previous.meta.get("kind") == "ivf" and len(vectors) > IVF_THRESHOLD:
        # Incremental: keep the trained IVF, remove the recordings that went, add the new ones.
        # A private in-memory copy (the loaded one is memory-mapped and may be in use).
        index = faiss.read_index(str(previous.path / "faiss.index"))
        old_ids = set(int(x) for x in previous.seg_ids)
        new_ids = set(int(x) for x in seg_ids_a)
        gone = np.array(sorted(old_ids - new_ids), dtype=np.int64)
        if len(gone):
            index.remove_ids(faiss.IDSelectorBatch(gone))
        fresh = np.isin(seg_ids_a, np.array(sorted(new_ids - old_ids), dtype=np.int64))
        if fresh.any():
            index.add_with_ids(vectors[fresh], seg_ids_a[fresh])
        kind = "ivf"
    else:
        index = _faiss_new(vectors.shape[1], vectors)
        if len(vectors):
            if not index.is_trained:
                index.train(vectors)
            index.add_with_ids(vectors, seg_ids_a)
        kind = "flat" if len(vectors) <= IVF_THRESHOLD else "ivf"
    verbatim = VerbatimIndex.build([a.fingerprint for _r, a in entries])
    landmark_index = LandmarkIndex.build([(a.landmark_hashes, a.landmark_times) for _r, a in entries])

    versions_dir = label_dir(label_id) / "versions"
    versions_dir.mkdir(parents=True, exist_ok=True)
    tmp = versions_dir / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    faiss.write_index(index, str(tmp / "faiss.index"))
    _write_npy(tmp, "vectors", vectors)
    _write_npy(tmp, "seg_ids", seg_ids_a)
    _write_npy(tmp, "seg_rec", cat(seg_rec) if seg_rec else np.zeros(0, np.int32))
    _write_npy(tmp, "seg_start", cat(seg_start) if seg_start else np.zeros(0, np.float32))
    _write_npy(tmp, "seg_end", cat(seg_end) if seg_end else np.zeros(0, np.float32))
    _write_npy(tmp, "chroma", cat(chroma) if chroma else np.zeros((0, 12), np.uint8))
    _write_npy(tmp, "chroma_offsets", np.asarray(chroma_offsets, dtype=np.int64))
    for name, array in {**verbatim.arrays(), **landmark_index.arrays()}.items():
        _write_npy(tmp, name, array)
    meta = {
        "version": version,
        "label_id": label_id,
        "kind": kind,
        "embedder": embedder.name,
        "embedder_version": embedder.full_version,
        "engine_version": engine_version,
        "standardizer": standardizer.to_json(),
        "recordings": recordings_meta,
        "n_segments": int(len(vectors)),
        "parent": previous.version if previous is not None else None,
        "calibration": {},
    }
    (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True))
    loaded = _load_dir(tmp, version)
    meta["calibration"] = calibrate(loaded)
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


def _load_dir(path: Path, version: str) -> CatalogIndex:
    meta = json.loads((path / "meta.json").read_text())

    def arr(name):
        return np.load(path / f"{name}.npy", mmap_mode="r")

    try:
        index = faiss.read_index(str(path / "faiss.index"), faiss.IO_FLAG_MMAP)
    except RuntimeError:
        index = faiss.read_index(str(path / "faiss.index"))
    if meta["kind"] == "ivf":
        faiss.extract_index_ivf(index).nprobe = meta.get("nprobe", IVF_NPROBE)
    return CatalogIndex(
        version=version,
        path=path,
        meta=meta,
        faiss_index=index,
        vectors=arr("vectors"),
        seg_ids=arr("seg_ids"),
        seg_rec=arr("seg_rec"),
        seg_start=arr("seg_start"),
        seg_end=arr("seg_end"),
        chroma=arr("chroma"),
        chroma_offsets=arr("chroma_offsets"),
        verbatim=VerbatimIndex(
            keys=arr("fp_keys"),
            post_rec=arr("fp_post_rec"),
            post_pos=arr("fp_post_pos"),
            fp_concat=arr("fp_concat"),
            fp_offsets=arr("fp_offsets"),
        ),
        landmarks=LandmarkIndex(
            keys=arr("lm_keys"),
            post_rec=arr("lm_post_rec"),
            post_t=arr("lm_post_t"),
            rec_h=arr("lm_rec_h"),
            rec_t=arr("lm_rec_t"),
            rec_offsets=arr("lm_rec_offsets"),
        ),
        standardizer=Standardizer.from_json(meta["standardizer"]),
        embedder=get_embedder(meta["embedder"]),
    )


def load_version(label_id: int, version: str) -> CatalogIndex:
    return _load_dir(label_dir(label_id) / "versions" / version, version)


# Workers load an index once and keep it; each use checks CURRENT (one small read) and reloads when a
# new version was swapped in.
_loaded: dict[str, CatalogIndex] = {}


def open_current(label_id: int) -> CatalogIndex | None:
    version = current_version(label_id)
    if version is None:
        return None
    key = str(label_dir(label_id))
    cached = _loaded.get(key)
    if cached is not None and cached.version == version and cached.path.exists():
        return cached
    loaded = load_version(label_id, version)
    _loaded[key] = loaded
    return loaded


def forget_loaded() -> None:
    _loaded.clear()
