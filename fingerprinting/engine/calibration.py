"""False-alarm calibration: how strong a run unrelated music produces by chance, per lane, measured on
the catalog itself when an index version is built.

Leave-one-out: excerpts of catalog recordings (`query_seconds` long) are run through every verbatim
lane as clips, with the excerpt's own recording and its near-duplicates excluded, so whatever a lane
finds is a false alarm against music of this very catalog (the same composers, instruments and
production: harder to tell apart than most unrelated music). Per lane, the best score of each query
gives the null distribution of "the best run an unrelated clip gets". Its upper tail is modelled as
exponential above the `tail_fraction` quantile of the queries (peaks over threshold, generalised
Pareto with shape 0), its scale estimated robustly and shrunk towards a per-lane prior by
`prior_weight` pseudo-observations, so a small catalog still gets a sane tail. Below the tail the
empirical fraction is used.

A catalog also reuses its own material (remixes, a theme quoted in another piece, an older version of
a track): pairs of recordings whose queries keep finding each other beyond chance are set aside as
related (`related_pairs`), and the tails are fitted again without them.

Leave-one-out sees the catalog's own style only, and a clip of another kind of music can agree more
by chance (orchestral pads against chiptunes): the false-alarm chance is the larger of the catalog's
own model and a reference model of unrelated real music (config.CalibrationConfig.reference_tail).

The false-alarm chance of a run with score s in a clip of d seconds against a catalog of n
recordings: p = P(best query score >= s) * max(1, n / n_calibrated), then 1 - (1 - p)^(d /
query_seconds) (chances grow with the clip's length and the catalog's size).
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.stats import chi2

from fingerprinting.engine.composition import score_name as composition_score_name
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
        p = min(1.0, self.per_query(score) * self._growth(catalog_size))
        repeats = max(duration, 1.0) / self.query_seconds
        return float(-np.expm1(repeats * np.log1p(-p))) if p < 1.0 else 1.0

    def score_for(self, false_alarm: float, *, duration: float, catalog_size: int) -> float:
        """The score whose false-alarm chance is `false_alarm` (the inverse of `false_alarm`)."""
        repeats = max(duration, 1.0) / self.query_seconds
        p = -float(np.expm1(np.log1p(-false_alarm) / repeats)) / self._growth(catalog_size)
        if p <= self.tail_exceed:
            return self.tail_start + self.tail_scale * float(np.log(self.tail_exceed / p))
        # Inside the empirical part: the lowest observed maximum reached by at most a fraction p.
        allowed = int(np.floor(p * (self.queries + 1.0) - 1.0))
        return (
            float(self.maxima[len(self.maxima) - 1 - allowed]) if 0 <= allowed < len(self.maxima) else -np.inf
        )

    def _growth(self, catalog_size: int) -> float:
        return max(1.0, catalog_size / max(self.catalog_size, 1))

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


def tail_fit(
    lane: str,
    values,
    queries: int,
    catalog_size: int,
    config: CalibrationConfig,
    prior: tuple[float, float] | None = None,
) -> LaneNull:
    """The exponential tail of one lane's per-query best scores (`values`; queries without any run
    count in `queries` only). The scale is the tail's median excess / ln 2 (robust: a strong relative
    left in the sample does not stretch it), shrunk to the lane's prior by `prior_weight`
    pseudo-observations. `prior` is the lane's (tail start, scale) where config.prior_tail has none
    (the composition lane's lives in its own config)."""
    prior_start, prior_scale = prior if prior is not None else config.priors[lane]
    values = np.sort(np.asarray(values, dtype=np.float64))
    if queries < config.min_queries:
        return LaneNull(
            lane, queries, config.query_seconds, catalog_size, tuple(values.tolist()),
            tail_start=prior_start, tail_exceed=config.prior_exceed, tail_scale=prior_scale,
            method=f"prior (only {queries} queries)",
        )  # fmt: skip
    rank = int(np.floor((1.0 - config.tail_fraction) * queries))  # queries below the tail
    below = queries - len(values)  # queries without any run sit below everything
    start = float(values[min(max(rank - below, 0), len(values) - 1)]) if len(values) else prior_start
    tail = values[values >= start]
    observed = float(np.median(tail - start)) / np.log(2.0) if len(tail) > 1 else prior_scale
    scale = (len(tail) * observed + config.prior_weight * prior_scale) / (len(tail) + config.prior_weight)
    return LaneNull(
        lane, queries, config.query_seconds, catalog_size, tuple(values.tolist()),
        tail_start=start, tail_exceed=max(len(tail), 1) / queries, tail_scale=float(scale),
        method=f"leave-one-out: exponential tail above the {1 - config.tail_fraction:.2f} quantile of "
        "query maxima, scale from the median excess, shrunk to the prior",
    )  # fmt: skip


class LaneScore(NamedTuple):
    """A lane's best score against one recording in one clip, and its best full-strength run's (None
    when it found weak runs only)."""

    best: float
    best_full: float | None


@dataclass(frozen=True)
class Observation:
    """A lane's best score against one recording, in one leave-one-out query."""

    lane: str
    query: int  # position of the recording the query was cut from
    start: float  # where in it
    matched: int
    score: float
    # the best score of a full-strength run (None: weak runs only, spectral.is_weak): weak runs count
    # in the lane's tail, but only full-strength ones reveal shared material
    full_score: float | None = None


def lane_maxima(observations: list[Observation], lane: str, related: set[frozenset]) -> list[float]:
    """Per query, the lane's best score against a recording not related to the query's."""
    best: dict[tuple[int, float], float] = {}
    for o in observations:
        if o.lane == lane and frozenset((o.query, o.matched)) not in related:
            key = (o.query, o.start)
            best[key] = max(best.get(key, -np.inf), o.score)
    return sorted(best.values())


def related_pairs(
    observations: list[Observation],
    nulls: dict[str, LaneNull],
    catalog_size: int,
    config: CalibrationConfig,
    reuse_lanes: tuple[str, ...] | None = None,
    without: Callable[[frozenset], dict[str, "LaneNull"]] | None = None,
) -> set[frozenset]:
    """Pairs of recordings whose queries keep matching each other beyond chance, in the lanes that
    find reused audio (`reuse_lanes`). Each observation's
    chance, under its lane's null, that a query's best run reaches its score against this particular
    recording, p = P(best >= score) / (catalog size - 1), is combined over the pair's observations
    (Fisher: -2 sum ln p is chi-squared with 2k degrees of freedom); the pair is related when that
    chance, times the number of pairs, is below `related_alpha`.

    `without(pair)`, when given, fits the nulls again without the pair's own observations: a pair not
    found related whose runs reach into a lane's tail is judged again against that. Otherwise a relative
    alone in the tail of a lane that rarely fires hides behind itself: its one maximum *is* the tail
    (engine 2.2.6 on the real reporting catalog, one query draw in eight: a landmark score of 25.5
    between two Warzone 2100 tracks, related in other draws, set the lane's evidence bound at 27.9
    instead of 6.4; bench/calibration_stability.py)."""
    lanes = config.reuse_lanes if reuse_lanes is None else reuse_lanes
    by_pair: dict[frozenset, list[tuple[str, float]]] = {}  # (lane, full-strength score)
    for o in observations:
        if o.lane in lanes and o.full_score is not None:
            # the style lane measures resemblance, which recurs between similar pieces by nature
            by_pair.setdefault(frozenset((o.query, o.matched)), []).append((o.lane, o.full_score))
    related = {pair for pair, mine in by_pair.items() if _beyond_chance(mine, nulls, catalog_size, config)}
    if without is not None:
        for pair, mine in by_pair.items():
            in_tail = any(score >= nulls[lane].tail_start for lane, score in mine)
            if pair not in related and in_tail and _beyond_chance(mine, without(pair), catalog_size, config):
                related.add(pair)
    return related


def _beyond_chance(
    mine: list[tuple[str, float]], nulls: dict[str, "LaneNull"], catalog_size: int, config: CalibrationConfig
) -> bool:
    """Whether one pair's (lane, score) observations together are beyond chance (related_pairs)."""
    others = max(catalog_size - 1, 1)
    ps = [max(min(1.0, nulls[lane].per_query(score) / others), 1e-300) for lane, score in mine]
    n_pairs = max(1.0, catalog_size * (catalog_size - 1) / 2)
    return bool(chi2.sf(-2.0 * float(np.sum(np.log(ps))), 2 * len(ps)) * n_pairs < config.related_alpha)


def reference_nulls(config: CalibrationConfig) -> dict[str, LaneNull]:
    """The reference tails of unrelated real music (config.reference_tail), as lane nulls."""
    return {
        lane: LaneNull(
            lane,
            0,
            config.query_seconds,
            config.reference_catalog_size,
            (),
            tail_start=start,
            tail_exceed=exceed,
            tail_scale=scale,
            method="reference (real-tuning negatives)",
        )  # fmt: skip
        for lane, start, exceed, scale in config.reference_tail
    }


class Calibration:
    """Per-lane nulls of an index version, and the false-alarm chance of a run: the larger of what the
    catalog's own leave-one-out and the reference tails of unrelated real music predict."""

    def __init__(
        self, nulls: dict[str, LaneNull], catalog_size: int, reference: dict[str, LaneNull] | None = None
    ):
        self.nulls = nulls
        self.catalog_size = catalog_size
        self.reference = reference or {}

    def false_alarm(self, lane: str, score: float, duration: float) -> float:
        chances = [
            null.false_alarm(score, duration=duration, catalog_size=self.catalog_size)
            for null in (self.nulls.get(lane), self.reference.get(lane))
            if null is not None
        ]
        return max(chances, default=1.0)

    def any_run_chance(self, lane: str, duration: float) -> float:
        """The chance, under the catalog's own leave-one-out model, that an unrelated clip of `duration`
        gets any run at all from `lane`: a lane that rarely fires cannot have a strongest run at a
        chance <= a on a fraction a of unrelated clips once a exceeds this."""
        null = self.nulls.get(lane)
        if null is None:
            return 1.0
        return null.false_alarm(-np.inf, duration=duration, catalog_size=self.catalog_size)

    def score_for(self, lane: str, false_alarm: float, duration: float) -> float:
        """The lowest score with at most `false_alarm` chance under both models."""
        scores = [
            null.score_for(false_alarm, duration=duration, catalog_size=self.catalog_size)
            for null in (self.nulls.get(lane), self.reference.get(lane))
            if null is not None
        ]
        return max(scores, default=np.inf)

    @classmethod
    def of(cls, meta: dict, config: EngineConfig) -> "Calibration":
        calibration = meta.get("calibration") or {}
        stored = calibration.get("lanes") or {}
        size = len(meta.get("recordings", []))
        nulls = {lane: LaneNull.from_dict(data) for lane, data in stored.items()}
        if config.composition.enabled and calibration.get("composition_score") != composition_score_name(
            config.composition
        ):
            nulls.pop("composition", None)  # a tail of another score, in other units: the prior instead
        for lane, prior in config.lanes_calibrated().items():
            nulls.setdefault(lane, tail_fit(lane, [], 0, max(size, 1), config.calibration, prior))
        reference = reference_nulls(config.calibration)
        if config.composition.enabled and config.composition.reference_tail:
            start, exceed, scale = config.composition.reference_tail
            reference["composition"] = LaneNull(
                "composition", 0, config.calibration.query_seconds, config.calibration.reference_catalog_size,
                (), tail_start=start, tail_exceed=exceed, tail_scale=scale,
                method="reference (real-tuning negatives)",
            )  # fmt: skip
        return cls(nulls, size, reference)


def query_plan(index, config: CalibrationConfig, seed: int | None = None) -> list[tuple[int, float]]:
    """(position, start seconds) of the leave-one-out queries: `per_recording` excerpts from each of a
    sample of recordings, spread over each recording. The sample is seeded by the index version's name
    unless `seed` is given (bench/calibration_stability.py draws several)."""
    n = index.n_recordings
    wanted = min(config.max_queries, config.per_recording * n)
    if seed is None:
        seed = int(hashlib.sha256(index.version.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    plan = []
    for position in rng.permutation(n)[: max(1, wanted // config.per_recording)]:
        duration = float(index.recordings[int(position)]["duration"])
        room = max(0.0, duration - config.query_seconds)
        for k in range(config.per_recording):
            plan.append((int(position), room * (k + rng.uniform(0.1, 0.9)) / config.per_recording))
    return plan[:wanted]


def observe(
    index,
    *,
    config: EngineConfig,
    audio: Callable[[int], np.ndarray],
    lane_scores: Callable,
    seed: int | None = None,
):
    """(queries run, observations) of the leave-one-out plan: per query and lane, the best score
    against each recording the lane found."""
    cal = config.calibration
    plan = query_plan(index, cal, seed) if index.n_recordings >= 2 else []
    observed: list[Observation] = []
    loaded: dict[int, np.ndarray] = {}
    queries = 0
    for position, start in plan:
        if position not in loaded:
            loaded = {position: audio(position)}  # one recording in memory at a time
        a = int(start * ANALYSIS_SR)
        excerpt = loaded[position][a : a + int(cal.query_seconds * ANALYSIS_SR)]
        if len(excerpt) < ANALYSIS_SR:
            continue
        queries += 1
        for lane, best in lane_scores(index, excerpt, frozenset(index.group_members(position))).items():
            observed.extend(
                Observation(lane, position, start, matched, score.best, score.best_full)
                for matched, score in best.items()
            )
    return queries, observed


def calibrate(
    index, *, config: EngineConfig, audio: Callable[[int], np.ndarray], lane_scores: Callable
) -> dict:
    """The calibration an index version stores: per-lane nulls from leave-one-out queries, and the
    catalog's related pairs.

    `audio(position)` returns a recording's samples at ANALYSIS_SR; `lane_scores(index, samples,
    exclude)` runs the lanes on a clip and returns {lane: {recording: LaneScore}}."""
    queries, observed = observe(index, config=config, audio=audio, lane_scores=lane_scores)
    nulls, related = fit_nulls(observed, queries, index.n_recordings, config)
    return {
        "lanes": {lane: null.as_dict() for lane, null in nulls.items()},
        "queries": queries,
        "related": [_related_entry(index, pair, observed) for pair in sorted(sorted(p) for p in related)],
    }


def fit_nulls(
    observed: list[Observation], queries: int, catalog_size: int, config: EngineConfig
) -> tuple[dict[str, LaneNull], set[frozenset]]:
    """Every calibrated lane's null from the leave-one-out observations, and the related pairs set
    aside from them: fit, find pairs matching beyond chance, fit again without them, until no new pair
    turns up."""
    cal = config.calibration
    related: set[frozenset] = set()

    def fit(excluded: set[frozenset]) -> dict[str, LaneNull]:
        return {
            lane: tail_fit(lane, lane_maxima(observed, lane, excluded), queries, catalog_size, cal, prior)
            for lane, prior in config.lanes_calibrated().items()
        }

    for _round in range(5):
        nulls = fit(related)
        aside = set(related)

        def without(pair: frozenset, aside: set[frozenset] = aside) -> dict[str, LaneNull]:
            return fit(aside | {pair})

        found = related_pairs(observed, nulls, catalog_size, cal, config.reuse_lanes(), without=without)
        if found <= related:
            break
        related |= found
    return nulls, related


def _related_entry(index, pair: list[int], observed: list[Observation]) -> dict:
    mine = [o for o in observed if {o.query, o.matched} == set(pair)]
    return {
        "recordings": [index.recordings[p]["isrc"] for p in pair],
        "strongest": [
            {"lane": o.lane, "query": index.recordings[o.query]["isrc"], "score": round(o.score, 3)}
            for o in sorted(mine, key=lambda o: -o.score)[:3]
        ],
    }
