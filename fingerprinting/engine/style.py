"""Style lane: influence without reused audio. Window embeddings (engine.embedder) searched in FAISS
give candidate recordings; each candidate is verified by melodic alignment (engine.alignment), and its
per-window alignment score is z-scored against the same score for a few recordings drawn at random
from the catalog (the per-window null). A window counts as evidence above the z whose false-alarm
chance is the evidence bound, from the index's calibration like the verbatim lanes' scores
(engine.calibration: the best window z of leave-one-out queries).
"""

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from fingerprinting.engine import alignment
from fingerprinting.engine.config import StyleConfig
from fingerprinting.engine.embedder import ALIGN_FRAME_SECONDS

LANE = "style"


@dataclass
class StyleResult:
    candidates: list[int]  # recording positions
    z: np.ndarray  # [n_windows, n_candidates]
    cos: np.ndarray  # alignment cosine per window
    faiss_best: np.ndarray  # best segment similarity per window (0 when not among faiss_k)
    alignments: list[alignment.Alignment]
    null_mean: np.ndarray
    null_sd: np.ndarray


@dataclass(frozen=True)
class Neighbour:
    """A recording's nearest segments to the clip's windows: best similarity per window (0 where none
    of its segments is among the window's `faiss_k` nearest) and where in the recording it is."""

    similarity: np.ndarray  # [n_windows]
    rec_start: np.ndarray  # [n_windows] seconds, NaN where similarity is 0

    @property
    def total(self) -> float:
        return float(self.similarity.sum())

    def merged(self, other: "Neighbour") -> "Neighbour":
        better = other.similarity > self.similarity
        return Neighbour(
            np.where(better, other.similarity, self.similarity),
            np.where(better, other.rec_start, self.rec_start),
        )


def faiss_neighbours(index, queries: np.ndarray, config: StyleConfig, exclude: frozenset[int]) -> dict:
    """{recording position: Neighbour} for every recording with a segment among a window's nearest."""
    n_windows = len(queries)
    k = min(config.faiss_k, index.n_segments)
    best: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if k <= 0 or not n_windows:
        return {}
    sims, ids, recs, starts = index.nearest_segments(queries, k)
    valid = ids >= 0
    for w in range(n_windows):
        for sim, rec, start, ok in zip(sims[w], recs[w], starts[w], valid[w], strict=True):
            rec = int(rec)
            if not ok or rec in exclude:
                continue
            if rec not in best:
                best[rec] = (np.zeros(n_windows, np.float32), np.full(n_windows, np.nan))
            similarity, where = best[rec]
            if sim > similarity[w]:
                similarity[w], where[w] = sim, start
    return {rec: Neighbour(sim, where) for rec, (sim, where) in best.items()}


def ranked_neighbours(neighbours: dict, limit: int) -> list[int]:
    """Recordings by summed best-segment similarity (ties by position)."""
    return sorted(neighbours, key=lambda r: (-round(neighbours[r].total, 6), r))[:limit]


def _null_positions(index, exclude: set[int], size: int) -> list[int]:
    seed = int(hashlib.sha256(index.version.encode()).hexdigest()[:8], 16)
    order = np.random.default_rng(seed).permutation(index.n_recordings)
    return [int(p) for p in order if int(p) not in exclude][:size]


def _crop(chroma: np.ndarray, lo_seconds: float, hi_seconds: float) -> tuple[np.ndarray, int]:
    """The recording's chroma frames from lo to hi seconds (clamped) and the first frame's index."""
    a = max(0, int(lo_seconds / ALIGN_FRAME_SECONDS))
    b = min(len(chroma), max(a + 1, int(np.ceil(hi_seconds / ALIGN_FRAME_SECONDS))))
    return chroma[a:b], a


def _regions(
    index, positions, neighbours, hints, clip_seconds: float, null: set[int], window_starts
) -> list[tuple[float, float]]:
    """Where in each recording to look for the clip: around its nearest segments (FAISS), around a
    verbatim run (`hints`), or, for a null recording, a stretch at a position seeded by the index
    version; one clip length of slack on each side. Aligning a cropped recording costs a fraction
    of aligning it whole, and a derived clip sits where its windows' nearest segments are."""
    seed = int(hashlib.sha256(index.version.encode()).hexdigest()[8:16], 16)
    out = []
    for position in positions:
        duration = float(index.recordings[position]["duration"])
        neighbour = neighbours.get(position)
        if position in hints:
            lo, hi = hints[position]
        elif position not in null and neighbour is not None and np.isfinite(neighbour.rec_start).any():
            # Around the segment nearest to any clip window (a derived clip's windows all point there).
            best = int(np.argmax(neighbour.similarity))
            lo = float(neighbour.rec_start[best]) - float(window_starts[best])
            hi = lo + clip_seconds
        elif position in null:
            lo = float(
                np.random.default_rng([seed, position]).uniform(0.0, max(0.0, duration - clip_seconds))
            )
            hi = lo + clip_seconds
        else:
            lo, hi = 0.0, duration  # a declared reference without any similar segment: all of it
        out.append((lo - clip_seconds, hi + clip_seconds))
    return out


def style_lane(
    index,
    neighbours: dict,
    chroma: np.ndarray,
    windows: list[tuple[float, float]],
    config: StyleConfig,
    *,
    exclude: frozenset[int] = frozenset(),
    extra: tuple[int, ...] = (),
    hints: dict[int, tuple[float, float]] | None = None,
) -> StyleResult:
    """Align the clip with its nearest recordings (and `extra` ones: verbatim sources, declared
    references), each within the region `hints` (recording seconds) or its nearest segments suggest,
    and z-score each window's alignment against `null_size` random recordings."""
    n_windows = len(windows)
    n_cand = min(config.max_candidates, max(1, index.n_recordings // 2))
    ranked = ranked_neighbours(neighbours, n_cand)
    candidates = list(dict.fromkeys([*ranked, *(p for p in extra if p not in exclude)]))
    null = _null_positions(index, set(candidates) | set(exclude), config.null_size)
    positions = candidates + null
    clip_seconds = len(chroma) * ALIGN_FRAME_SECONDS
    crops = [
        _crop(index.recording_chroma(p), lo, hi)
        for p, (lo, hi) in zip(
            positions,
            _regions(
                index, positions, neighbours, hints or {}, clip_seconds, set(null), [w[0] for w in windows]
            ),
            strict=True,
        )
    ]
    aligned = [
        replace(a, offset_frames=a.offset_frames + first)
        for a, (_c, first) in zip(
            alignment.align_many(
                chroma, [c for c, _first in crops], frame_seconds=ALIGN_FRAME_SECONDS, windows=windows
            ),
            crops,
            strict=True,
        )
    ]
    cos = np.array([a.window_cos for a in aligned], dtype=np.float64).reshape(len(positions), n_windows).T
    null_cos = cos[:, len(candidates) :]
    seen = np.isfinite(null_cos)
    n_null = seen.sum(axis=1)
    filled = np.where(seen, null_cos, 0.0)
    mean = (filled.sum(axis=1) + config.prior_weight * config.prior_mean) / (n_null + config.prior_weight)
    squares = np.where(seen, (null_cos - mean[:, None]) ** 2, 0.0).sum(axis=1)
    sd = np.maximum(
        np.sqrt((squares + config.prior_weight * config.prior_sd**2) / (n_null + config.prior_weight)),
        config.sd_floor,
    )
    z = (cos[:, : len(candidates)] - mean[:, None]) / sd[:, None]
    z = np.where(np.isfinite(z), z, 0.0)  # no aligned material in that window: no evidence
    cos = np.where(np.isfinite(cos), cos, 0.0)
    faiss_best = (
        np.stack(
            [
                neighbours[p].similarity if p in neighbours else np.zeros(n_windows, np.float32)
                for p in candidates
            ],
            axis=1,
        )
        if candidates
        else np.zeros((n_windows, 0))
    )
    return StyleResult(
        candidates=candidates,
        z=z,
        cos=cos[:, : len(candidates)],
        faiss_best=faiss_best,
        alignments=aligned[: len(candidates)],
        null_mean=mean,
        null_sd=sd,
    )
