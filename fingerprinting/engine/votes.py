"""Offset voting, shared by the inverted-index lanes (Chromaprint sub-fingerprints, landmark hashes).

A clip key found in the catalog at recording r, position p votes for the alignment (r, p - q), q being
the key's position in the clip. A reused stretch piles its votes on one alignment; unrelated material
spreads them. Tempo drift smears a true alignment over neighbouring offsets, so each offset is pooled
with its two neighbours before alignments are ranked.
"""

from dataclasses import dataclass

import numpy as np

_OFFSET_BIAS = 1 << 31  # offsets are stored unsigned in the low 32 bits of an alignment code


def key_ranges(sorted_keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi) of each query key's postings in `sorted_keys` (int64, in query order). The keys are
    looked up in sorted order and put back: sorted needles walk the haystack (millions of keys, a
    memory map) front to back, about 3x faster than a clip's hashes in their own order."""
    order = np.argsort(query, kind="stable")
    needles = query[order]
    lo, hi = np.empty(len(query), np.int64), np.empty(len(query), np.int64)
    lo[order] = np.searchsorted(sorted_keys, needles, side="left")
    hi[order] = np.searchsorted(sorted_keys, needles, side="right")
    return lo, hi


def lookup(
    sorted_keys: np.ndarray, query: np.ndarray, max_postings: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query index, posting index) of every posting whose key equals a query key, skipping keys with
    more than `max_postings` postings (silence, drones: they carry no information), and how many
    postings each query key has (int64, one per query key, skipped ones included)."""
    if len(query) == 0 or len(sorted_keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(len(query), np.int64)
    lo, hi = key_ranges(sorted_keys, query)
    counts = hi - lo
    keep = (counts > 0) & (counts <= max_postings)
    reps = counts[keep]
    query_index = np.repeat(np.nonzero(keep)[0], reps)
    return query_index.astype(np.int64), expand_ranges(lo[keep], reps), counts


def expand_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The indices start, start + 1, ..., start + count - 1 of every (start, count), concatenated
    (int64): the postings of each matched key, without a Python loop."""
    counts = np.asarray(counts, np.int64)
    first = np.repeat(np.asarray(starts, np.int64), counts)
    return first + np.arange(len(first)) - np.repeat(np.cumsum(counts) - counts, counts)


@dataclass(frozen=True)
class Votes:
    """Distinct (recording, offset) alignments with their votes, sorted by recording then offset.
    `pooled` adds each offset's two neighbours' votes; `hits_*` keep every single vote."""

    recording: np.ndarray  # int64 per alignment
    offset: np.ndarray  # int64 per alignment
    votes: np.ndarray  # int64 per alignment
    pooled: np.ndarray  # int64 per alignment
    hits_query: np.ndarray  # per vote: the query position that cast it
    hits_recording: np.ndarray
    hits_offset: np.ndarray

    @property
    def empty(self) -> bool:
        return len(self.recording) == 0

    def votes_at(self, recording: int, offset: int, tolerance: int = 1) -> np.ndarray:
        """The query positions of the votes for `recording` within `tolerance` of `offset`."""
        mine = (self.hits_recording == recording) & (np.abs(self.hits_offset - offset) <= tolerance)
        return self.hits_query[mine]


def offset_votes(
    query_positions: np.ndarray,
    posting_recording: np.ndarray,
    posting_position: np.ndarray,
    *,
    exclude: frozenset[int] = frozenset(),
) -> Votes:
    """Votes of looked-up postings (`lookup`) for alignments offset = posting position - query
    position, pooled with neighbouring offsets. Recordings in `exclude` do not vote (leave-one-out
    calibration asks as if they were not in the catalog)."""
    rec = posting_recording.astype(np.int64)
    offset = posting_position.astype(np.int64) - query_positions.astype(np.int64)
    if exclude:
        keep = ~np.isin(rec, np.fromiter(exclude, np.int64))
        rec, offset, query_positions = rec[keep], offset[keep], query_positions[keep]
    codes = (rec << 32) | (offset + _OFFSET_BIAS)
    uniq, votes = np.unique(codes, return_counts=True)
    pooled = votes.copy()
    adjacent = ((uniq[1:] >> 32) == (uniq[:-1] >> 32)) & (np.diff(uniq) == 1)
    pooled[:-1] += np.where(adjacent, votes[1:], 0)
    pooled[1:] += np.where(adjacent, votes[:-1], 0)
    return Votes(
        recording=(uniq >> 32).astype(np.int64),
        offset=(uniq & 0xFFFFFFFF).astype(np.int64) - _OFFSET_BIAS,
        votes=votes.astype(np.int64),
        pooled=pooled.astype(np.int64),
        hits_query=query_positions.astype(np.int64),
        hits_recording=rec,
        hits_offset=offset,
    )


def best_alignments(
    votes: Votes, *, min_votes: int, max_recordings: int, per_recording: int, scan: int
) -> list[tuple[int, int, int]]:
    """(recording, offset, pooled votes) of the best-voted alignments, most votes first (ties by
    recording and offset, so the order is deterministic): at least `min_votes` pooled votes, at most
    `per_recording` offsets per recording (repetitive music votes for every repeat of a bar), never
    an offset next to one already taken; stops once `max_recordings` recordings are in or `scan`
    alignments were looked at."""
    if votes.empty:
        return []
    good = np.nonzero(votes.pooled >= min_votes)[0]
    order = good[np.lexsort((votes.offset[good], votes.recording[good], -votes.pooled[good]))][:scan]
    out: list[tuple[int, int, int]] = []
    taken: set[tuple[int, int]] = set()
    per: dict[int, int] = {}
    for i in order:
        r, off = int(votes.recording[i]), int(votes.offset[i])
        if per.get(r, 0) >= per_recording or any((r, off + d) in taken for d in (-1, 0, 1)):
            continue
        taken.add((r, off))
        per[r] = per.get(r, 0) + 1
        out.append((r, off, int(votes.pooled[i])))
        if len(per) >= max_recordings:
            break
    return out
