"""False-alarm calibration: how strong a run unrelated music produces by chance, per lane, measured on
the catalog itself when an index version is built.

Leave-one-out: excerpts of catalog recordings (`query_seconds` long) are run through every verbatim
lane as clips, with the excerpt's own recording and its near-duplicates excluded, so whatever a lane
finds is a false alarm against music of this very catalog (the same composers, instruments and
production: harder to tell apart than most unrelated music). Per lane, the best score of each query
gives the null distribution of "the best run an unrelated clip gets". Its upper tail is modelled as
exponential above the `tail_quantile` of the queries (peaks over threshold, generalised Pareto with
shape 0), with the scale shrunk towards a per-lane prior by `prior_weight` pseudo-observations, so a
small catalog still gets a sane tail. Below the tail the empirical fraction is used.

The false-alarm chance of a run with score s in a clip of d seconds against a catalog of n
recordings: p = P(best query score >= s) * max(1, n / n_calibrated), then 1 - (1 - p)^(d /
query_seconds) (chances grow with the clip's length and the catalog's size).
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fingerprinting.engine.config import CalibrationConfig, EngineConfig
from fingerprinting.engine.signal import ANALYSIS_SR


@dataclass(frozen=True)
class LaneNull:
    lane: str
    queries: int  # leave-one-out queries run
    query_seconds: float
    catalog_size: int  # recordings in the index when calibrated
    maxima: tuple[float, ...]  # best score of each query that produced any run, ascending
    tail_start: float
    tail_exceed: float  # fraction of queries whose best score reached tail_start
    tail_scale: float
    method: str

    def per_query(self, score: float) -> float:
        """P(the best run of an unrelated query scores >= score)."""
        if score > self.tail_start:
            return self.tail_exceed * float(np.exp(-(score - self.tail_start) / self.tail_scale))
        reached = len(self.maxima) - int(np.searchsorted(self.maxima, score, side="left"))
        return min(1.0, (reached + 1.0) / (self.queries + 1.0))

    def false_alarm(self, score: float, *, duration: float, catalog_size: int) -> float:
        p = min(1.0, self.per_query(score) * max(1.0, catalog_size / max(self.catalog_size, 1)))
        repeats = max(duration, 1.0) / self.query_seconds
        return float(-np.expm1(repeats * np.log1p(-p))) if p < 1.0 else 1.0

    def as_dict(self) -> dict:
        return {
            "lane": self.lane,
            "queries": self.queries,
            "query_seconds": self.query_seconds,
            "catalog_size": self.catalog_size,
            "maxima": [round(x, 4) for x in self.maxima],
            "tail_start": round(self.tail_start, 4),
            "tail_exceed": round(self.tail_exceed, 6),
            "tail_scale": round(self.tail_scale, 4),
            "method": self.method,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "LaneNull":
        return cls(**{**data, "maxima": tuple(data["maxima"])})


def _tail_fit(
    lane, values: np.ndarray, queries: int, catalog_size: int, config: CalibrationConfig
) -> LaneNull:
    prior_start, prior_scale = config.priors[lane]
    if queries < config.min_queries:
        return LaneNull(
            lane,
            queries,
            config.query_seconds,
            catalog_size,
            tuple(values.tolist()),
            tail_start=prior_start,
            tail_exceed=config.prior_exceed,
            tail_scale=prior_scale,
            method=f"prior (only {queries} queries)",
        )
    rank = int(np.floor((1.0 - config.tail_fraction) * queries))  # queries below the tail
    below = queries - len(values)  # queries without any run sit below everything
    start = float(values[min(max(rank - below, 0), len(values) - 1)]) if len(values) else prior_start
    tail = values[values >= start]
    excess = float((tail - start).sum())
    scale = (excess + config.prior_weight * prior_scale) / (len(tail) + config.prior_weight)
    return LaneNull(
        lane,
        queries,
        config.query_seconds,
        catalog_size,
        tuple(values.tolist()),
        tail_start=start,
        tail_exceed=max(len(tail), 1) / queries,
        tail_scale=float(scale),
        method="leave-one-out, exponential tail above the "
        f"{1 - config.tail_fraction:.2f} quantile, scale shrunk to the prior",
    )


def fit_lane_null(
    lane: str, maxima: list[dict], *, queries: int, catalog_size: int, config: CalibrationConfig
) -> tuple[LaneNull, list[dict]]:
    """The tail model of one lane from the best run of each leave-one-out query ({"score", ...};
    queries with no run at all count in `queries` but have no entry), and the queries set aside as
    related: a catalog reuses its own material (a remix, a theme quoted in the credits), and a query
    matching such a relative is reuse, not a false alarm. The strongest query is set aside while,
    under the tail fitted without it, fewer than `related_alpha` of such calibrations would see a
    score that high by chance."""
    ranked = sorted(maxima, key=lambda m: m["score"])
    related: list[dict] = []
    while ranked:
        rest = np.asarray([m["score"] for m in ranked[:-1]], dtype=np.float64)
        fit = _tail_fit(lane, rest, queries - len(related) - 1, catalog_size, config)
        if queries * fit.per_query(ranked[-1]["score"]) >= config.related_alpha:
            break
        related.append(ranked.pop())
    values = np.asarray([m["score"] for m in ranked], dtype=np.float64)
    return _tail_fit(lane, values, queries - len(related), catalog_size, config), related


class Calibration:
    """Per-lane nulls of an index version, and the false-alarm chance of a run."""

    def __init__(self, nulls: dict[str, LaneNull], catalog_size: int):
        self.nulls = nulls
        self.catalog_size = catalog_size

    def false_alarm(self, lane: str, score: float, duration: float) -> float:
        null = self.nulls.get(lane)
        if null is None:
            return 1.0
        return null.false_alarm(score, duration=duration, catalog_size=self.catalog_size)

    @classmethod
    def of(cls, meta: dict, config: EngineConfig) -> "Calibration":
        stored = (meta.get("calibration") or {}).get("lanes") or {}
        size = len(meta.get("recordings", []))
        nulls = {lane: LaneNull.from_dict(data) for lane, data in stored.items()}
        for lane in config.calibration.priors:
            nulls.setdefault(lane, _tail_fit(lane, np.zeros(0), 0, max(size, 1), config.calibration))
        return cls(nulls, size)


def query_plan(index, config: CalibrationConfig) -> list[tuple[int, float]]:
    """(position, start seconds) of the leave-one-out queries: `per_recording` excerpts from each of a
    seeded sample of recordings, spread over each recording."""
    n = index.n_recordings
    wanted = min(config.max_queries, config.per_recording * n)
    seed = int(hashlib.sha256(index.version.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    plan = []
    for position in rng.permutation(n)[: max(1, wanted // config.per_recording)]:
        duration = float(index.recordings[int(position)]["duration"])
        room = max(0.0, duration - config.query_seconds)
        for k in range(config.per_recording):
            plan.append((int(position), room * (k + rng.uniform(0.1, 0.9)) / config.per_recording))
    return plan[:wanted]


def calibrate(
    index,
    *,
    config: EngineConfig,
    audio: Callable[[int], np.ndarray],
    lane_runs: Callable,
) -> dict:
    """The calibration an index version stores: per-lane nulls from leave-one-out queries, and the
    catalog's related pairs (recordings that reuse each other's material, found on the way).

    `audio(position)` returns a recording's samples at ANALYSIS_SR; `lane_runs(index, samples,
    exclude)` runs the verbatim lanes on a clip and returns {lane: [Run, ...]}. A pair set aside as
    related by one lane (`fit_lane_null`) is left out of every lane's null, and the fits are redone
    until no new pair turns up."""
    cal = config.calibration
    plan = query_plan(index, cal) if index.n_recordings >= 2 else []
    observed: list[tuple[int, float, dict[str, dict[int, float]]]] = []
    loaded: dict[int, np.ndarray] = {}
    for position, start in plan:
        if position not in loaded:
            loaded = {position: audio(position)}  # one recording in memory at a time
        a = int(start * ANALYSIS_SR)
        excerpt = loaded[position][a : a + int(cal.query_seconds * ANALYSIS_SR)]
        if len(excerpt) < ANALYSIS_SR:
            continue
        best: dict[str, dict[int, float]] = {}
        for lane, runs in lane_runs(index, excerpt, frozenset(index.group_members(position))).items():
            per_recording = best.setdefault(lane, {})
            for run in runs:
                per_recording[run.recording] = max(
                    per_recording.get(run.recording, -np.inf), float(run.score)
                )
        observed.append((position, start, best))
    queries = len(observed)
    related: dict[frozenset, dict] = {}
    for _round in range(5):
        nulls, fresh = {}, {}
        for lane in cal.priors:
            maxima = []
            for position, start, best in observed:
                scores = {
                    m: v for m, v in best.get(lane, {}).items() if frozenset((position, m)) not in related
                }
                if scores:
                    matched = max(scores, key=lambda m: (scores[m], -m))
                    maxima.append(
                        {"score": scores[matched], "query": position, "start": start, "matched": matched}
                    )
            nulls[lane], aside = fit_lane_null(
                lane, maxima, queries=queries, catalog_size=index.n_recordings, config=cal
            )
            for m in aside:
                fresh.setdefault(frozenset((m["query"], m["matched"])), {"lane": lane, **m})
        if not fresh:
            break
        related.update(fresh)
    return {
        "lanes": {lane: null.as_dict() for lane, null in nulls.items()},
        "queries": queries,
        "related": [
            {
                "lane": m["lane"],
                "query": index.recordings[m["query"]]["isrc"],
                "query_start": round(m["start"], 1),
                "matched": index.recordings[m["matched"]]["isrc"],
                "score": round(m["score"], 3),
            }
            for m in related.values()
        ],
    }
