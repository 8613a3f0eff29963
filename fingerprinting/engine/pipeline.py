"""From a clip's samples and a loaded catalog index to influence shares with evidence, in named steps:

1. `find_verbatim`: the verbatim lanes in order (engine.lanes); each run's score becomes a false-alarm
   chance (engine.calibration) and only runs below the evidence bound are kept;
2. `name_groups`: runs of near-duplicate recordings (one master under several ISRCs) go to the
   group's canonical member, so identical audio is not split at random between them;
3. `style_evidence`: the style lane (engine.style) for influence without reused audio (the transform
   grid runs after it, on its candidates);
4. `explain.explain_away`: once every verbatim lane has run, a recording loses the clip time it owes
   only to material it shares with a stronger one (a loop of one track under another), which a mix
   partner keeps;
5. `share_out`: time covered by runs belongs to their recordings (split equally where several
   overlap); uncovered time is split among style evidence by e^2 / (sum e^2 + null_mass^2), e the
   window z above the calibrated threshold, so the "no attribution" mass keeps weak evidence from
   taking much. At most `max_shares` recordings, none below `min_share`;
6. `confidence` and `declared_report`, then the review decision (engine.acceptance).

Deterministic: the same samples, index version and config give the same result bit for bit (timings
aside).
"""

import time
from dataclasses import dataclass, field, replace

import numpy as np

from fingerprinting.engine import acceptance, duplicates, explain, spectral
from fingerprinting.engine import composition as composition_mod
from fingerprinting.engine import shares as shares_mod
from fingerprinting.engine import style as style_mod
from fingerprinting.engine.calibration import Calibration, LaneScore, calibrate
from fingerprinting.engine.catalog import CatalogIndex
from fingerprinting.engine.config import DEFAULT_CONFIG, EngineConfig
from fingerprinting.engine.embedder import ALIGN_FRAME_SECONDS
from fingerprinting.engine.lanes import (
    COMPOSITION_LANES,
    IDENTITY_LANES,
    TRANSFORM_LANES,
    ClipFeatures,
    LaneContext,
)
from fingerprinting.engine.runs import Run, coverage, select_runs


@dataclass
class ShareResult:
    position: int
    share: float
    lane: str  # "verbatim", "style", "both" or "composition"
    evidence: dict
    false_alarm: float | None  # of the share's strongest run; None for a style-only share
    # "composition" when the share's runs are all the composition lane's (a re-performance: the work
    # only); "recording" otherwise (reused audio, or a style resemblance, as before the lane).
    right: str = "recording"


@dataclass
class EngineResult:
    duration: float
    shares: list[ShareResult]
    remainder: float
    confidence: float
    evidence: dict
    review: acceptance.Review
    timings: dict = field(default_factory=dict)


def _r(x: float, places: int = 4) -> float:
    return float(round(float(x), places))


class _Clock:
    """Wall time of each stage (its own, not cumulative) and the total."""

    def __init__(self):
        self.timings: dict[str, float] = {}
        self._started = time.perf_counter()
        self._last = self._started

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self._last
        self._last = now

    def total(self) -> dict:
        return {
            **{k: _r(v) for k, v in self.timings.items()},
            "total": _r(time.perf_counter() - self._started),
        }


def _within(run: Run, duration: float) -> Run:
    """The run cut at the clip's end (a landmark run reaches one pair span past its last anchor),
    its recording end moved by as much."""
    if run.clip_end <= duration:
        return run
    cut = run.clip_end - duration
    return replace(run, clip_end=duration, rec_end=run.rec_end - cut * run.transform.tempo)


def find_verbatim(
    context: LaneContext, lanes, calibration: Calibration, clock: _Clock, report: dict
) -> list[Run]:
    """Runs of `lanes` below the evidence bound, added to `context.found`; `report` gets, per lane,
    what it saw (its strongest run, kept or not: evidence a reviewer can weigh)."""
    bound = context.config.evidence.max_false_alarm
    duration = context.clip.duration
    for lane in lanes:
        scored = [
            _within(run, duration).with_false_alarm(calibration.false_alarm(lane.name, run.score, duration))
            for run in lane.find(context)
        ]
        kept = [run for run in scored if run.false_alarm <= bound]
        describe = getattr(lane, "describe", None)  # figures only evidence needs (Lane)
        if describe is not None:
            kept = [describe(context, run) for run in kept]
        context.found.extend(kept)
        strongest = max(scored, key=lambda r: r.score, default=None)
        report[lane.name] = {
            "candidates": len(scored),
            "kept": len(kept),
            "strongest": None
            if strongest is None
            else {"isrc": context.index.recordings[strongest.recording]["isrc"], **strongest.as_evidence()},
        }
        clock.lap(lane.name)
    return context.found


def lane_scores(
    index: CatalogIndex, samples: np.ndarray, exclude: frozenset[int], config: EngineConfig
) -> dict:
    """{lane: {recording: LaneScore}} with `exclude` absent from the catalog: the best score the lane
    gives the clip against each recording, and its best full-strength run's (a weak spectral run counts
    in the lane's tail but does not reveal shared material): what the calibration measures (the style
    lane's score is a candidate's best window z). Nothing is explained for the lanes that follow (a
    null clip has no source)."""
    context = LaneContext(ClipFeatures(samples, config, index.embedder), index, config, exclude=exclude)
    found = {lane.name: lane.find(context) for lane in IDENTITY_LANES}
    context.style_result = style = style_evidence(context, [])
    found |= {lane.name: lane.find(context) for lane in TRANSFORM_LANES}
    if config.composition.enabled:
        found |= {lane.name: lane.find(context) for lane in COMPOSITION_LANES}
    out: dict[str, dict[int, LaneScore]] = {}
    for lane, runs in found.items():
        best: dict[int, float] = {}
        best_full: dict[int, float] = {}
        for run in runs:
            best[run.recording] = max(best.get(run.recording, -np.inf), float(run.score))
            if not spectral.is_weak(run):
                best_full[run.recording] = max(best_full.get(run.recording, -np.inf), float(run.score))
        out[lane] = {p: LaneScore(score, best_full.get(p)) for p, score in best.items()}
    window_best = style.z.max(axis=0) if style.z.size else np.zeros(0)
    out[style_mod.LANE] = {
        p: LaneScore(float(z), float(z)) for p, z in zip(style.candidates, window_best, strict=True)
    }
    return out


def finish_index(
    index: CatalogIndex, *, config: EngineConfig, audio, previous: CatalogIndex | None = None
) -> dict:
    """What a new index version needs the written index for, as meta keys: its near-duplicate groups
    (engine.duplicates), then the false-alarm calibration of every lane (engine.calibration: leave-one-
    out over the catalog's own audio, `audio(position)` giving a recording's samples). A previous
    version's calibration is reused while the catalog changed by less than `reuse_change` of its
    recordings (and, with the composition lane on, it modelled the lane's present score): each added
    recording would otherwise cost a whole leave-one-out run, and false-alarm chances scale with the
    catalog's size anyway."""
    groups = duplicates.near_duplicate_groups(index, config, previous)
    index.meta["near_duplicates"] = groups
    score = composition_mod.score_name(config.composition) if config.composition.enabled else None
    if previous is not None and previous.calibration.get("lanes"):
        before = previous.calibration.get("catalog_size", previous.n_recordings)
        small_change = abs(index.n_recordings - before) <= config.calibration.reuse_change * max(before, 1)
        same_score = score is None or previous.calibration.get("composition_score") == score
        if small_change and same_score:
            return {
                "near_duplicates": groups,
                "calibration": {**previous.calibration, "reused_from": previous.version},
            }
    calibrated = calibrate(
        index,
        config=config,
        audio=audio,
        lane_scores=lambda idx, samples, exclude: lane_scores(idx, samples, exclude, config),
    )
    if score is not None:
        calibrated["composition_score"] = score  # Calibration.of ignores a composition tail of another score
    return {"near_duplicates": groups, "calibration": {**calibrated, "catalog_size": index.n_recordings}}


def name_groups(index: CatalogIndex, runs: list[Run]) -> list[Run]:
    """Runs of a near-duplicate recording, credited to its group's canonical member (the recording
    that matched stays in the run's detail)."""
    out = []
    for run in runs:
        canonical = index.canonical(run.recording)
        if canonical != run.recording:
            run = replace(
                run,
                recording=canonical,
                detail={**run.detail, "matched_isrc": index.recordings[run.recording]["isrc"]},
            )
        out.append(run)
    return out


def style_evidence(context: LaneContext, runs: list[Run]) -> style_mod.StyleResult:
    index, config = context.index, context.config
    neighbours: dict[int, style_mod.Neighbour] = {}
    for position, neighbour in context.neighbours.items():  # near-duplicates vote as their canonical member
        canonical = index.canonical(position)
        neighbours[canonical] = (
            neighbours[canonical].merged(neighbour) if canonical in neighbours else neighbour
        )
    hints: dict[int, tuple[float, float]] = {}
    for run in runs:
        lo, hi = hints.get(run.recording, (run.rec_start, run.rec_end))
        hints[run.recording] = (min(lo, run.rec_start - run.clip_start), max(hi, run.rec_end))
    return style_mod.style_lane(
        index,
        neighbours,
        context.clip.segments.chroma,
        context.clip.windows,
        config.style,
        exclude=context.exclude,
        extra=tuple(sorted({run.recording for run in runs}))
        + tuple(index.canonical(p) for p in context.declared),
        hints=hints,
    )


def share_out(
    *,
    duration: float,
    runs: list[Run],
    style: style_mod.StyleResult,
    windows,
    z_threshold: float,
    config: EngineConfig,
) -> tuple[list[tuple[int, float]], dict[int, float], dict[int, float]]:
    excess = np.maximum(0.0, style.z - z_threshold)
    verbatim_part, style_part = shares_mod.combine(
        duration=duration,
        spans=[shares_mod.Span(r.recording, r.clip_start, r.clip_end) for r in runs],
        windows=windows,
        candidates=style.candidates,
        excess=excess,
        null_mass=config.shares.null_mass,
    )
    totals: dict[int, float] = {}
    for part in (verbatim_part, style_part):
        for p, v in part.items():
            totals[p] = totals.get(p, 0.0) + v
    ranked = shares_mod.rank(totals, min_share=config.shares.min_share, max_shares=config.shares.max_shares)
    return ranked, verbatim_part, style_part


def attribute(
    index: CatalogIndex,
    samples: np.ndarray,
    *,
    config: EngineConfig = DEFAULT_CONFIG,
    declared_isrcs: tuple[str, ...] = (),
) -> EngineResult:
    """Attribute mono float32 audio at ANALYSIS_SR against a loaded index."""
    clock = _Clock()
    calibration = Calibration.of(index.meta, config)
    isrc_position = {r["isrc"]: i for i, r in enumerate(index.recordings)}
    clip = ClipFeatures(samples, config, index.embedder)
    context = LaneContext(
        clip, index, config, declared=tuple(isrc_position[i] for i in declared_isrcs if i in isrc_position)
    )
    lane_report: dict = {}
    found = find_verbatim(context, IDENTITY_LANES, calibration, clock, lane_report)
    runs = select_runs(name_groups(index, found), min_new_seconds=config.shares.min_new_seconds)
    context.style_result = style = style_evidence(context, runs)
    clock.lap("style")
    # The grid tries only the style lane's candidates, so its runs' recordings are aligned already.
    find_verbatim(context, TRANSFORM_LANES, calibration, clock, lane_report)
    if config.composition.enabled:  # off: not even a line in the lane report (results as before)
        find_verbatim(context, COMPOSITION_LANES, calibration, clock, lane_report)
    runs = select_runs(name_groups(index, context.found), min_new_seconds=config.shares.min_new_seconds)
    runs, cuts = explain.explain_away(runs, context)
    runs, weak_cuts = explain.weak_where_unexplained(runs, context)
    clock.lap("select")
    # Style evidence counts above the window z whose false-alarm chance is the evidence bound.
    z_threshold = calibration.score_for(style_mod.LANE, config.evidence.max_false_alarm, clip.duration)
    lane_report[style_mod.LANE] = _style_report(index, style, calibration, z_threshold, clip.duration)
    ranked, verbatim_part, style_part = share_out(
        duration=clip.duration,
        runs=runs,
        style=style,
        windows=clip.windows,
        z_threshold=z_threshold,
        config=config,
    )
    candidate_column = {p: j for j, p in enumerate(style.candidates)}
    shares = []
    for position, value in ranked:
        mine = [run for run in runs if run.recording == position]
        j = candidate_column.get(position)
        has_style = j is not None and style_part.get(position, 0.0) > 0
        lane = "both" if mine and has_style else ("verbatim" if mine else "style")
        composition_only = bool(mine) and all(run.lane == composition_mod.LANE for run in mine)
        if composition_only:
            lane = "composition"
        shares.append(
            ShareResult(
                position=position,
                share=value,
                lane=lane,
                evidence=share_evidence(
                    index,
                    position,
                    mine,
                    style,
                    j,
                    context,
                    z_threshold,
                    verbatim_part.get(position, 0.0),
                    style_part.get(position, 0.0),
                ),
                false_alarm=min((run.false_alarm for run in mine), default=None),
                right="composition" if composition_only else "recording",
            )
        )
    remainder = max(0.0, 1.0 - sum(s.share for s in shares))
    excess = np.maximum(0.0, style.z - z_threshold)
    declared = declared_report(index, declared_isrcs, isrc_position, runs, style, z_threshold)
    confidence = clip_confidence(shares, remainder, style, excess, config)
    clock.lap("shares")
    evidence = {
        "duration_seconds": _r(clip.duration, 3),
        "windows": [[_r(s, 2), _r(e, 2)] for s, e in clip.windows],
        "verbatim": {
            "runs": len(runs),
            "covered_fraction": _r(coverage(runs, clip.duration)),
            "lanes": lane_report,
            "evidence_bound": config.evidence.max_false_alarm,
            "explained_away": [cut.as_evidence(index) for cut in cuts],
            "weak_cut": [cut.as_evidence(index) for cut in weak_cuts],
        },
        "style": {
            "z_threshold": _r(z_threshold),
            "candidates": [index.recordings[p]["isrc"] for p in style.candidates],
            "null_mean": [_r(x) for x in style.null_mean],
            "null_sd": [_r(x) for x in style.null_sd],
        },
        "declared_references": declared,
        "config_digest": config.digest(),
    }
    review = acceptance.decide(
        shares=shares, confidence=confidence, declared=declared, index=index, config=config
    )
    return EngineResult(
        duration=clip.duration,
        shares=shares,
        remainder=remainder,
        confidence=confidence,
        evidence=evidence,
        review=review,
        timings=clock.total(),
    )


def _style_report(
    index, style: style_mod.StyleResult, calibration: Calibration, z_threshold: float, duration: float
) -> dict:
    """The style lane's line of the lane report: its candidates and the best window z of any."""
    best = style.z.max(axis=0) if style.z.size else np.zeros(0)
    report = {
        "candidates": len(style.candidates),
        "kept": int((best >= z_threshold).sum()),
        "z_threshold": _r(z_threshold),
        "strongest": None,
    }
    if len(best):
        j = int(np.argmax(best))
        z = float(best[j])
        report["strongest"] = {
            "isrc": index.recordings[style.candidates[j]]["isrc"],
            "method": style_mod.LANE,
            "score": _r(z),
            "false_alarm": float(f"{calibration.false_alarm(style_mod.LANE, z, duration):.3g}"),
        }
    return report


def clip_confidence(shares, remainder, style, excess, config: EngineConfig) -> float:
    """How sure the attribution is, share-weighted: a share's verbatim part as sure as its strongest
    run's false-alarm chance is small (1 at the acceptance bound and below, 0.5 at the evidence bound,
    log-linear between), its style part as its window excess over the threshold (e^2 / (e^2 +
    null_mass^2)); the unattributed mass as clean as the strongest style evidence left unused."""
    null_mass = config.shares.null_mass
    accept, evidence = config.acceptance.max_false_alarm, config.evidence.max_false_alarm
    conf = 0.0
    for s in shares:
        verbatim_part = s.evidence["verbatim_share"]
        style_part = max(0.0, s.share - verbatim_part)
        if verbatim_part and s.false_alarm is not None:
            steps = np.log(evidence / max(s.false_alarm, 1e-300)) / np.log(evidence / accept)
            conf += verbatim_part * float(np.clip(0.5 + 0.5 * steps, 0.5, 1.0))
        if style_part:
            e = s.evidence["style"]["mean_excess"]
            conf += style_part * (e * e / (e * e + null_mass**2))
    kept = {s.position for s in shares}
    unused = [float(excess[:, j].max()) for j, p in enumerate(style.candidates) if p not in kept]
    strongest = max(unused, default=0.0)
    conf += remainder * (1.0 - strongest**2 / (strongest**2 + null_mass**2))
    return _r(min(1.0, conf))


def declared_report(index, declared_isrcs, isrc_position, runs, style, z_threshold) -> list[dict]:
    """Each declared ISRC: in the catalog? supported by verbatim seconds or a window above the
    threshold?"""
    column = {p: j for j, p in enumerate(style.candidates)}
    out = []
    for isrc in declared_isrcs:
        position = isrc_position.get(isrc)
        if position is None:
            out.append({"isrc": isrc, "in_catalog": False, "supported": False})
            continue
        position = index.canonical(position)
        j = column.get(position)
        best_z = float(style.z[:, j].max()) if j is not None and style.z.size else None
        seconds = sum(r.seconds for r in runs if r.recording == position)
        out.append(
            {
                "isrc": isrc,
                "in_catalog": True,
                "supported": bool(seconds > 0 or (best_z is not None and best_z >= z_threshold)),
                "verbatim_seconds": _r(seconds, 2),
                "best_window_z": _r(best_z) if best_z is not None else None,
            }
        )
    return out


def share_evidence(index, position, runs, style, j, context, z_threshold, verbatim_part, style_part) -> dict:
    out = {"verbatim_share": _r(verbatim_part, 6), "style_share": _r(style_part, 6)}
    members = index.group_members(position)
    if len(members) > 1:
        out["near_duplicates"] = [index.recordings[p]["isrc"] for p in members if p != position]
    if runs:
        chromaprint_bers = [run.detail["ber"] for run in runs if "ber" in run.detail]
        out["verbatim"] = {
            "runs": [run.as_evidence() for run in runs],
            "seconds": _r(sum(run.seconds for run in runs), 2),
            "mean_ber": _r(np.mean(chromaprint_bers)) if chromaprint_bers else None,
            "quality": _r(max(run.strength for run in runs)),
            "false_alarm": float(f"{min(run.false_alarm for run in runs):.3g}"),
        }
    if j is not None:
        out["style"] = _style_evidence(index, position, style, j, context, z_threshold)
    return out


def _style_evidence(index, position, style, j, context, z_threshold) -> dict:
    z = style.z[:, j]
    al = style.alignments[j]
    vectors, seg_starts = index.recording_segments(position)
    queries = context.queries
    per_window = []
    aspect_sum: dict[str, float] = {}
    windows = context.clip.windows
    for w, (start, end) in enumerate(windows):
        entry = {
            "clip_start": _r(start, 2),
            "clip_end": _r(end, 2),
            "z": _r(z[w]),
            "alignment": _r(style.cos[w, j]),
        }
        if len(vectors):
            sims = vectors @ queries[w]
            k = int(np.argmax(sims))
            aspects = index.standardizer.aspect_similarities(queries[w], vectors[k])
            entry["similarity"] = _r(sims[k])
            entry["rec_start"] = _r(float(seg_starts[k]), 2)
            entry["aspects"] = {a: _r(v) for a, v in aspects.items()}
            for a, v in aspects.items():
                aspect_sum[a] = aspect_sum.get(a, 0.0) + v
        per_window.append(entry)
    return {
        "windows": per_window,
        "mean_z": _r(z.mean()),
        "mean_excess": _r(np.maximum(0.0, z - z_threshold).mean()),
        "aspects": {a: _r(v / len(windows)) for a, v in aspect_sum.items()},
        "alignment": {
            "score": _r(al.score),
            "rec_offset_seconds": _r(al.offset_frames * ALIGN_FRAME_SECONDS, 2),
            "clip_transpose_semitones": int(al.clip_semitones),
            "tempo_factor": _r(1.0 / al.tempo_step, 3),
        },
    }
