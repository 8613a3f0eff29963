"""The catalog side of the engine: what one recording's analysis holds, and an index version in
memory (inverted indexes, FAISS, segment tables, alignment chroma, near-duplicate groups,
calibration). Arrays in, arrays out: where they are stored is the caller's business
(fingerprinting.index keeps them in versioned directories and memory-maps them).
"""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import faiss
import numpy as np

from fingerprinting.engine.chromaprint import ChromaprintIndex, fingerprint
from fingerprinting.engine.config import EngineConfig
from fingerprinting.engine.embedder import Embedder, Segments, Standardizer
from fingerprinting.engine.landmarks import LandmarkIndex, catalog_hashes
from fingerprinting.engine.signal import ANALYSIS_SR, log_spectrogram
from fingerprinting.engine.spectral import RecordingPeaks

# Exact inner-product search up to this many segments (about 50,000 three-minute recordings); IVF
# above it (docs/attribution.md, measured by bench/attribution_speed.py).
IVF_THRESHOLD = 1_000_000
IVF_NPROBE = 16
SEGMENT_BITS = 20  # segment id = recording id << SEGMENT_BITS | window number
# Queries go to FAISS in blocks below its BLAS threshold (distance_compute_blas_threshold, 20): each
# inner product is then computed pair by pair, the same bits whatever other vectors the index holds,
# so a shard scores a segment exactly as the whole catalog's index does (engine.shards).
FAISS_QUERY_BLOCK = 16
# Extra neighbours fetched past k, so that a tie at the k-th place (identical segments: one master
# under two ISRCs) is seen whole and cut by segment id, not by FAISS's heap order.
FAISS_TIE_MARGIN = 8
STANDARDIZE_BLOCK_ROWS = 65_536  # segments standardised at a time while a version is built (memory)


def _search_blocks(faiss_index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    parts = [
        faiss_index.search(np.ascontiguousarray(queries[i : i + FAISS_QUERY_BLOCK], dtype=np.float32), k)
        for i in range(0, len(queries), FAISS_QUERY_BLOCK)
    ]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def canonical_order(sims: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the k best (similarity descending, ties by segment id ascending; -1
    ids, FAISS's "no more neighbours", last)."""
    missing = ids < 0
    return np.lexsort((np.where(missing, np.iinfo(np.int64).max, ids), -sims, missing), axis=-1)[:, :k]


def search_top_k(faiss_index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, segment ids) of each query's k nearest segments in canonical order
    (`canonical_top_k`): the same set and order from one index or from shards merged."""
    total = int(faiss_index.ntotal)
    k = min(k, total)
    if k <= 0 or not len(queries):
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    fetch = min(total, k + FAISS_TIE_MARGIN)
    while True:
        sims, ids = _search_blocks(faiss_index, queries, fetch)
        tie_cut = (sims[:, -1] == sims[:, k - 1]) & (ids[:, -1] >= 0)
        if fetch >= total or not tie_cut.any():
            break
        fetch = min(total, 2 * fetch)
    order = canonical_order(sims, ids, k)
    return np.take_along_axis(sims, order, axis=1), np.take_along_axis(ids, order, axis=1)


def chroma_to_uint8(chroma: np.ndarray) -> np.ndarray:
    """Alignment chroma (normalised frames in [-1, 1]) in one byte per value."""
    return np.clip(np.round((chroma + 1.0) * 127.5), 0, 255).astype(np.uint8)


def chroma_from_uint8(chroma: np.ndarray) -> np.ndarray:
    return chroma.astype(np.float32) / 127.5 - 1.0


@dataclass
class RecordingAnalysis:
    """Everything the index needs from one catalog recording."""

    recording_id: int
    isrc: str
    title: str
    duration: float
    fingerprint: np.ndarray  # uint32 Chromaprint items over the full length
    segments: Segments
    landmark_hashes: np.ndarray  # uint32
    landmark_times: np.ndarray  # int32 anchor frames

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "fingerprint": self.fingerprint,
            "landmark_hashes": self.landmark_hashes,
            "landmark_times": self.landmark_times,
            "raw": self.segments.raw,
            "starts": self.segments.starts,
            "ends": self.segments.ends,
            "chroma": chroma_to_uint8(self.segments.chroma),
            "meta": np.array(json.dumps([self.recording_id, self.isrc, self.title, self.duration])),
        }

    @classmethod
    def from_arrays(cls, data) -> "RecordingAnalysis":
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
                chroma=chroma_from_uint8(data["chroma"]),
            ),
        )


def analyse_recording(
    samples: np.ndarray, *, recording_id: int, isrc: str, title: str, embedder: Embedder, config: EngineConfig
) -> RecordingAnalysis:
    """Fingerprint (full length), landmark hashes, window descriptors and alignment chroma of mono
    float32 audio at ANALYSIS_SR."""
    hashes, times = catalog_hashes(log_spectrogram(samples), config.landmark)
    return RecordingAnalysis(
        recording_id=recording_id,
        isrc=isrc,
        title=title,
        duration=len(samples) / ANALYSIS_SR,
        fingerprint=fingerprint(samples),
        segments=embedder.describe(samples),
        landmark_hashes=hashes,
        landmark_times=times,
    )


@dataclass
class CatalogIndex:
    """One index version in memory (arrays memory-mapped where the caller loaded them so)."""

    version: str
    meta: dict
    faiss_index: object
    vectors: np.ndarray
    seg_ids: np.ndarray
    seg_rec: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray
    chroma: np.ndarray
    chroma_offsets: np.ndarray
    chromaprint: ChromaprintIndex
    landmarks: LandmarkIndex
    standardizer: Standardizer
    embedder: Embedder
    path: object = None  # where the caller stored the version (opaque to the engine)
    # The caller's reader of the composition lane's patch index stored with the version: given the
    # settings it must have been built with (composition.patch_params), (FAISS index, arrays) or None.
    stored_patches: Callable[[dict], tuple[object, Mapping[str, np.ndarray]] | None] | None = field(
        default=None, repr=False
    )
    _chroma_cache: dict = field(default_factory=dict, repr=False)
    _groups: dict | None = field(default=None, repr=False)
    _peaks: RecordingPeaks | None = field(default=None, repr=False)

    @property
    def recordings(self) -> list[dict]:
        return self.meta["recordings"]

    @property
    def n_segments(self) -> int:
        return int(self.faiss_index.ntotal)

    def nearest_segments(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
        """(similarity, segment id, recording position, segment start seconds), each [queries, k], of
        every query's k nearest segments in canonical order (`search_top_k`); ids -1 where there are
        fewer (IVF)."""
        sims, ids = search_top_k(self.faiss_index, queries, k)
        if not ids.size:
            return sims, ids, np.zeros(ids.shape, np.int64), np.zeros(ids.shape, np.float32)
        valid = ids >= 0
        rows = np.minimum(np.searchsorted(self.seg_ids, np.where(valid, ids, 0)), len(self.seg_rec) - 1)
        return sims, ids, np.asarray(self.seg_rec)[rows].astype(np.int64), np.asarray(self.seg_start)[rows]

    def recording_segments(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """A recording's segment vectors and start seconds (its rows are contiguous: position order)."""
        seg_rec = np.asarray(self.seg_rec)
        a, b = (
            np.searchsorted(seg_rec, position, side="left"),
            np.searchsorted(seg_rec, position, side="right"),
        )
        return np.asarray(self.vectors[a:b]), np.asarray(self.seg_start[a:b])

    @property
    def n_recordings(self) -> int:
        return len(self.meta["recordings"])

    @property
    def calibration(self) -> dict:
        return self.meta.get("calibration") or {}

    def recording_chroma(self, position: int) -> np.ndarray:
        cached = self._chroma_cache.get(position)
        if cached is None:
            a, b = int(self.chroma_offsets[position]), int(self.chroma_offsets[position + 1])
            cached = chroma_from_uint8(self.chroma[a:b])
            if len(self._chroma_cache) < 4096:
                self._chroma_cache[position] = cached
        return cached

    def group_of(self, position: int) -> int | None:
        """The near-duplicate group (index into meta["near_duplicates"]) of a recording, if any."""
        return self._group_lookup().get(position)

    def group_members(self, position: int) -> list[int]:
        """The recording and its near-duplicates (positions)."""
        group = self.group_of(position)
        return [position] if group is None else list(self.meta["near_duplicates"][group]["positions"])

    def canonical(self, position: int) -> int:
        """The member of a recording's near-duplicate group that attributions name (the first)."""
        return min(self.group_members(position))

    def _group_lookup(self) -> dict[int, int]:
        if self._groups is None:
            self._groups = {
                int(p): g
                for g, group in enumerate(self.meta.get("near_duplicates", []))
                for p in group["positions"]
            }
        return self._groups

    @property
    def peaks(self) -> RecordingPeaks:
        """Catalog peaks per recording (for the spectral lane), recovered once per process."""
        if self._peaks is None:
            self._peaks = RecordingPeaks(self.landmarks)
        return self._peaks


@dataclass
class BuiltCatalog:
    arrays: dict[str, np.ndarray]
    faiss_index: object
    standardizer: Standardizer
    kind: str  # "flat" or "ivf"
    n_segments: int


def _faiss_new(dim: int, vectors: np.ndarray):
    n = len(vectors)
    if n <= IVF_THRESHOLD:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    # nlist ~ sqrt(n) and nprobe 16: recall@10 0.99 at 0.7 ms per query for a million segments with
    # the statistics of our embeddings (bench/attribution_speed.py).
    nlist = int(np.sqrt(n))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = vectors[np.random.default_rng(0).choice(n, min(n, 64 * nlist), replace=False)]
    index.train(np.ascontiguousarray(sample))
    index.nprobe = IVF_NPROBE
    return index


def faiss_template(vectors: np.ndarray):
    """An empty FAISS index of the kind a catalog of these vectors gets, trained on them where it
    needs training (IVF: the same sample `_faiss_new` draws). Shards each take a copy, so all of them
    probe the lists one index over the whole catalog would (engine.shards)."""
    index = _faiss_new(vectors.shape[1], vectors)
    if len(vectors) and not index.is_trained:
        index.train(vectors)
    return index


def _faiss_index(
    vectors: np.ndarray, seg_ids: np.ndarray, previous: "CatalogIndex | None", ivf_copy, template=None
):
    """A new FAISS index over the vectors; above the IVF threshold, with an IVF previous version, its
    trained quantizer is kept and only the segments that went or came are removed or added. A shard
    gets a copy of `template` (faiss_template over the whole catalog) with its own vectors added."""
    if template is not None:
        index = faiss.clone_index(template)
        index.reset()
        if len(vectors):
            index.add_with_ids(vectors, seg_ids)
        return index, ("ivf" if faiss.try_extract_index_ivf(index) is not None else "flat")
    if previous is not None and previous.meta.get("kind") == "ivf" and len(vectors) > IVF_THRESHOLD:
        index = ivf_copy()
        old_ids = set(int(x) for x in previous.seg_ids)
        new_ids = set(int(x) for x in seg_ids)
        gone = np.array(sorted(old_ids - new_ids), dtype=np.int64)
        if len(gone):
            index.remove_ids(faiss.IDSelectorBatch(gone))
        fresh = np.isin(seg_ids, np.array(sorted(new_ids - old_ids), dtype=np.int64))
        if fresh.any():
            index.add_with_ids(vectors[fresh], seg_ids[fresh])
        return index, "ivf"
    index = _faiss_new(vectors.shape[1], vectors)
    if len(vectors):
        if not index.is_trained:
            index.train(vectors)
        index.add_with_ids(vectors, seg_ids)
    return index, ("flat" if len(vectors) <= IVF_THRESHOLD else "ivf")


def _raw(entries: list[tuple[dict, RecordingAnalysis]], embedder: Embedder) -> np.ndarray:
    if not entries:
        return np.zeros((0, embedder.dim), np.float32)
    return np.concatenate([a.segments.raw for _r, a in entries])


def fit_standardizer(entries: list[tuple[dict, RecordingAnalysis]], embedder: Embedder) -> Standardizer:
    raw = _raw(entries, embedder)
    return Standardizer.fit(raw if len(raw) else np.zeros((2, embedder.dim), np.float32), embedder)


def standardized_vectors(
    entries: list[tuple[dict, RecordingAnalysis]], standardizer: Standardizer, embedder: Embedder
) -> np.ndarray:
    """The entries' segments standardised, in blocks (the whole catalog's raw descriptors are not
    copied at once: 2M segments are 1.7 GiB); every row is transformed on its own, so the blocks give
    the bits one call over all rows gives."""
    total = sum(len(a.segments.raw) for _r, a in entries)
    out = np.empty((total, embedder.dim), np.float32)
    row, block, pending = 0, [], 0
    for i, (_r, analysis) in enumerate(entries):
        block.append(analysis.segments.raw)
        pending += len(analysis.segments.raw)
        if pending >= STANDARDIZE_BLOCK_ROWS or i == len(entries) - 1:
            if pending:
                out[row : row + pending] = standardizer.transform(np.concatenate(block))
            row, block, pending = row + pending, [], 0
    return out


def build_catalog(
    entries: list[tuple[dict, RecordingAnalysis]],
    *,
    standardizer: Standardizer | None,
    embedder: Embedder,
    config: EngineConfig,
    previous: "CatalogIndex | None" = None,
    ivf_copy=None,
    vectors: np.ndarray | None = None,
    template=None,
) -> BuiltCatalog:
    """Arrays and FAISS index of a version from (recording row, analysis) pairs in position order.
    `standardizer=None` fits a new one; `ivf_copy()` returns a private copy of the previous version's
    IVF index (for the incremental path above the IVF threshold). A shard (engine.shards) passes its
    rows of the whole catalog's standardised `vectors` and the catalog's FAISS `template`."""
    if standardizer is None:
        standardizer = fit_standardizer(entries, embedder)
    if vectors is None:
        vectors = standardized_vectors(entries, standardizer, embedder)
    seg_ids, seg_rec, seg_start, seg_end, chroma, chroma_offsets = [], [], [], [], [], [0]
    for position, (row, analysis) in enumerate(entries):
        n = len(analysis.segments.raw)
        seg_ids.append((np.int64(row["id"]) << SEGMENT_BITS) + np.arange(n, dtype=np.int64))
        seg_rec.append(np.full(n, position, dtype=np.int32))
        seg_start.append(analysis.segments.starts.astype(np.float32))
        seg_end.append(analysis.segments.ends.astype(np.float32))
        chroma.append(chroma_to_uint8(analysis.segments.chroma))
        chroma_offsets.append(chroma_offsets[-1] + len(analysis.segments.chroma))
        row["segments"] = n

    def cat(parts, dtype, shape=(0,)):
        return np.concatenate(parts) if parts else np.zeros(shape, dtype)

    seg_ids_a = cat(seg_ids, np.int64)
    faiss_index, kind = _faiss_index(vectors, seg_ids_a, previous, ivf_copy, template)
    chromaprint_index = ChromaprintIndex.build(
        [a.fingerprint for _r, a in entries], key_bits=config.chromaprint.key_bits
    )
    landmark_index = LandmarkIndex.build([(a.landmark_hashes, a.landmark_times) for _r, a in entries])
    arrays = {
        "vectors": vectors,
        "seg_ids": seg_ids_a,
        "seg_rec": cat(seg_rec, np.int32),
        "seg_start": cat(seg_start, np.float32),
        "seg_end": cat(seg_end, np.float32),
        "chroma": cat(chroma, np.uint8, (0, 12)),
        "chroma_offsets": np.asarray(chroma_offsets, dtype=np.int64),
        **chromaprint_index.arrays(),
        **landmark_index.arrays(),
    }
    return BuiltCatalog(
        arrays=arrays, faiss_index=faiss_index, standardizer=standardizer, kind=kind, n_segments=len(vectors)
    )


def catalog_from_arrays(
    *, version: str, meta: dict, arrays, faiss_index, embedder: Embedder, config: EngineConfig, path=None
) -> CatalogIndex:
    return CatalogIndex(
        path=path,
        version=version,
        meta=meta,
        faiss_index=faiss_index,
        vectors=arrays["vectors"],
        seg_ids=arrays["seg_ids"],
        seg_rec=arrays["seg_rec"],
        seg_start=arrays["seg_start"],
        seg_end=arrays["seg_end"],
        chroma=arrays["chroma"],
        chroma_offsets=arrays["chroma_offsets"],
        chromaprint=ChromaprintIndex.from_arrays(arrays, key_bits=config.chromaprint.key_bits),
        landmarks=LandmarkIndex.from_arrays(arrays),
        standardizer=Standardizer.from_json(meta["standardizer"]),
        embedder=embedder,
    )
