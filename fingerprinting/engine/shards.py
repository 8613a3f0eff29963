"""Index shards: a catalog index split by recording id (shard k of N holds the recordings whose id is
k modulo N), and `ShardedCatalog`, which answers every question the lanes ask of an index by asking
each shard and merging the answers exactly as one index over the whole catalog answers them. The
alignment and verification lanes then run on the merged candidates unchanged, so an attribution is
the same, share for share and evidence for evidence, whatever the number of shards.

What depends on the whole catalog, and how the merge keeps it (docs/scaling.md):
- FAISS top-k per clip window: each shard returns its own top k in canonical order (similarity
  descending, ties by segment id: catalog.search_top_k), and the global top k is the canonical top k
  of their union. FAISS scores each (query, segment) pair on its own (catalog.FAISS_QUERY_BLOCK), so a
  shard gives a segment the same bits as the whole index. IVF: every shard is a copy of one quantizer
  trained on the whole catalog (catalog.faiss_template), so the same lists are probed.
- Inverted-index postings (Chromaprint, landmarks, the spectral lanes' candidates): a key is skipped
  when it has more than `max_postings` postings in the whole catalog. Each shard returns every query
  key's posting count with its postings (a shard over the limit on its own returns none: the sum is
  over it too); the merge adds the counts, applies the limit, and orders the postings as one index
  holds them (query key, recording position, then the recording's own order).
- Recording positions (the version's recordings table, in id order) are global: a shard's local
  positions map to global ones, so offset votes, tie orders, the style lane's candidates and its null
  sample (seeded by the version) see the same numbers.
- The standardizer, the near-duplicate groups and the calibration are computed once, over the merged
  view, and kept in the version's meta: no shard has statistics of its own.

A shard is reached through the small interface of `Shard` (SHARD_METHODS: arrays in, arrays out),
which `LocalShard` implements over a shard loaded in this process and fingerprinting.shard_queues over
a Celery queue per shard (one worker pool per shard, on other hosts).
"""

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from fingerprinting.engine.catalog import CatalogIndex, canonical_order, chroma_from_uint8
from fingerprinting.engine.chromaprint import ChromaprintIndex
from fingerprinting.engine.embedder import Embedder, Standardizer
from fingerprinting.engine.landmarks import LandmarkIndex


def shard_of(recording_id: int, count: int) -> int:
    """The shard holding a recording: its id modulo the shard count."""
    return int(recording_id) % count


def split_entries(entries: list, count: int) -> list[list]:
    """(recording row, analysis) pairs, in position order, split by shard (each keeps the order)."""
    out: list[list] = [[] for _ in range(count)]
    for entry in entries:
        out[shard_of(entry[0]["id"], count)].append(entry)
    return out


# The questions a shard answers (recordings in the shard's local positions), arrays in, arrays out:
SHARD_METHODS = (
    "chromaprint_postings",  # (query keys, max_postings) -> (query index, recording, item, counts)
    "landmark_postings",  # (hashes, max_postings) -> (query index, recording, frame, repeats, counts)
    "nearest_segments",  # (queries, k) -> (similarity, segment id, recording, start seconds)
    "recording_fp",  # (recording) -> Chromaprint items
    "recording_peaks",  # (recording) -> (frames, bins)
    "recording_chroma_uint8",  # (recording) -> alignment chroma, one byte per value
    "recording_segments",  # (recording) -> (vectors, start seconds)
)


class Answer(Protocol):
    def result(self): ...


class Shard(Protocol):
    """What the merged view asks of one shard: `submit(method, *args)` one of SHARD_METHODS, and the
    answer's `result()` later, so that a fan-out to shards in other processes runs in parallel."""

    n_segments: int

    def submit(self, method: str, *args) -> Answer: ...


class _Ready:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class LocalShard:
    """A shard loaded in this process (memory-mapped by fingerprinting.index)."""

    def __init__(self, index: CatalogIndex):
        self.index = index
        self.n_segments = index.n_segments

    def submit(self, method: str, *args) -> Answer:
        if method not in SHARD_METHODS:
            raise ValueError(f"a shard does not answer {method!r}")
        return _Ready(getattr(self, method)(*args))

    def chromaprint_postings(self, query, max_postings):
        return self.index.chromaprint.postings(query, max_postings)

    def landmark_postings(self, hashes, max_postings):
        return self.index.landmarks.postings(hashes, max_postings)

    def nearest_segments(self, queries, k):
        return self.index.nearest_segments(queries, k)

    def recording_fp(self, local):
        return np.asarray(self.index.chromaprint.recording_fp(local))

    def recording_peaks(self, local):
        return self.index.landmarks.recording_peaks(local)

    def recording_chroma_uint8(self, local):
        a, b = int(self.index.chroma_offsets[local]), int(self.index.chroma_offsets[local + 1])
        return np.asarray(self.index.chroma[a:b])

    def recording_segments(self, local):
        return self.index.recording_segments(local)


def fan_out(shards: Sequence[Shard], method: str, *args) -> list:
    """Every shard's answer: all asked first, then all collected (in parallel when they are remote)."""
    pending = [shard.submit(method, *args) for shard in shards]
    return [answer.result() for answer in pending]


def merge_postings(
    parts: Sequence[tuple[np.ndarray, ...]], positions: Sequence[np.ndarray], max_postings: int
) -> tuple[np.ndarray, ...]:
    """The shards' (query index, local recording, *columns, counts) postings as one index's `lookup`
    gives them: keys with more than `max_postings` postings over all shards dropped, recordings in
    global positions, ordered by query index, then recording, then the recording's own order (a
    recording lives in one shard, whose order within it is the whole index's)."""
    counts = np.sum([part[-1] for part in parts], axis=0)
    keep = (counts > 0) & (counts <= max_postings)
    q = np.concatenate([part[0] for part in parts]).astype(np.int64)
    rec = np.concatenate(
        [
            np.asarray(where, np.int64)[part[1].astype(np.int64)]
            for part, where in zip(parts, positions, strict=True)
        ]
    )
    columns = [np.concatenate([part[c] for part in parts]) for c in range(2, len(parts[0]) - 1)]
    wanted = keep[q] if len(q) else np.zeros(0, bool)
    q, rec, columns = q[wanted], rec[wanted], [c[wanted] for c in columns]
    order = np.lexsort((rec, q))  # stable: a recording's postings keep their shard's order
    return (q[order], rec[order], *(c[order] for c in columns), counts)


class _Owners:
    """Global recording position -> (shard, local position)."""

    def __init__(self, positions: Sequence[np.ndarray], n_recordings: int):
        self.shard = np.full(n_recordings, -1, np.int64)
        self.local = np.full(n_recordings, -1, np.int64)
        for k, where in enumerate(positions):
            self.shard[where] = k
            self.local[where] = np.arange(len(where))

    def __call__(self, position: int) -> tuple[int, int]:
        return int(self.shard[position]), int(self.local[position])


class ShardedChromaprint(ChromaprintIndex):
    """The Chromaprint inverted index of all shards, as one (`candidates` is ChromaprintIndex's)."""

    def __init__(
        self, shards: Sequence[Shard], positions: Sequence[np.ndarray], owners: _Owners, key_bits: int
    ):
        self.shards, self.positions, self.owners, self.key_bits = shards, positions, owners, key_bits

    def postings(self, query, max_postings):
        parts = fan_out(self.shards, "chromaprint_postings", query, max_postings)
        return merge_postings(parts, self.positions, max_postings)

    def recording_fp(self, rec: int) -> np.ndarray:
        k, local = self.owners(rec)
        return self.shards[k].submit("recording_fp", local).result()


class ShardedLandmarks(LandmarkIndex):
    """The landmark inverted index of all shards, as one (`votes` is LandmarkIndex's)."""

    def __init__(self, shards: Sequence[Shard], positions: Sequence[np.ndarray], owners: _Owners):
        self.shards, self.positions, self.owners = shards, positions, owners

    def postings(self, hashes, max_postings):
        parts = fan_out(self.shards, "landmark_postings", hashes, max_postings)
        return merge_postings(parts, self.positions, max_postings)

    def recording_peaks(self, rec: int) -> tuple[np.ndarray, np.ndarray]:
        k, local = self.owners(rec)
        return self.shards[k].submit("recording_peaks", local).result()


class ShardedCatalog(CatalogIndex):
    """An index version made of shards: the version's meta (recordings table, standardizer,
    near-duplicate groups, calibration) and, per shard, the global positions of its recordings."""

    def __init__(
        self,
        *,
        version: str,
        meta: dict,
        shards: Sequence[Shard],
        positions: Sequence[np.ndarray],
        standardizer: Standardizer,
        embedder: Embedder,
        key_bits: int,
        path=None,
    ):
        owners = _Owners(positions, len(meta["recordings"]))
        super().__init__(
            version=version,
            meta=meta,
            faiss_index=None,
            vectors=None,  # type: ignore[arg-type]  # per shard only: nothing may read them whole
            seg_ids=None,  # type: ignore[arg-type]
            seg_rec=None,  # type: ignore[arg-type]
            seg_start=None,  # type: ignore[arg-type]
            seg_end=None,  # type: ignore[arg-type]
            chroma=None,  # type: ignore[arg-type]
            chroma_offsets=None,  # type: ignore[arg-type]
            chromaprint=ShardedChromaprint(shards, positions, owners, key_bits),
            landmarks=ShardedLandmarks(shards, positions, owners),
            standardizer=standardizer,
            embedder=embedder,
            path=path,
        )
        self.shards = list(shards)
        self.positions = [np.asarray(p, np.int64) for p in positions]
        self.owners = owners

    @property
    def n_segments(self) -> int:
        return sum(shard.n_segments for shard in self.shards)

    def nearest_segments(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
        parts = fan_out(self.shards, "nearest_segments", queries, k)
        sims = np.concatenate([p[0] for p in parts], axis=1)
        ids = np.concatenate([p[1] for p in parts], axis=1)
        recs = np.concatenate(
            [
                np.where(p[1] >= 0, where[np.maximum(p[2], 0)], 0)
                for p, where in zip(parts, self.positions, strict=True)
            ],
            axis=1,
        )
        starts = np.concatenate([p[3] for p in parts], axis=1)
        order = canonical_order(sims, ids, min(k, self.n_segments))
        return tuple(np.take_along_axis(a, order, axis=1) for a in (sims, ids, recs, starts))

    def recording_segments(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        k, local = self.owners(position)
        return self.shards[k].submit("recording_segments", local).result()

    def recording_chroma(self, position: int) -> np.ndarray:
        cached = self._chroma_cache.get(position)
        if cached is None:
            k, local = self.owners(position)
            cached = chroma_from_uint8(self.shards[k].submit("recording_chroma_uint8", local).result())
            if len(self._chroma_cache) < 4096:
                self._chroma_cache[position] = cached
        return cached
