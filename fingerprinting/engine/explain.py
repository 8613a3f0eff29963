"""Explaining away: where runs of two recordings cover the same clip time, is the weaker one there only
because it shares material with the stronger?

Real catalogs reuse their own audio without being near-duplicates: a loop or a stem of one track laid
under another, a medley holding a whole earlier track among new parts. A clip of the one then gives
runs on both, and covered time used to be split equally between them, so half of a clip of track A
went to track B, whose other material the clip does not contain. A mix of two recordings also gives
overlapping runs, and there both are right. The clip's spectrogram tells the two apart:

- on the overlap, each recording's peaks at its alignment are looked up in the clip's presence map
  (engine.spectral, the statistic its runs are scored by): the recording whose peaks are there in the
  larger fraction (kappa) is the stronger;
- the two recordings must hold the same material there, whatever the clip holds: the weaker one's
  catalog peaks, at its alignment, fall on the stronger one's (at its own) beyond chance, by the
  spectral lane's statistic with the stronger recording's peaks in place of the clip's presence map,
  at z >= MIN_SCORE (the lane's own "worth keeping"). Two recordings that only happen to be mixed in
  the clip do not (z -2.8 to 2.2 over 86 mashup checks on the synthesized tuning seed; the Warzone and
  supertux pairs that share loops and themes: 8.8-38), so a mix is never judged on the clip alone. On
  the clip alone, pieces of one synthesizer left a -6 dB mix partner under the lane's kappa once the
  louder piece's peaks were taken out (4 of 20 mashups of the synthesized reporting seed);
- the stronger one's peaks are then taken out of the presence map, as the spectral lane's second pass
  does, and the weaker one is scored again. A mix partner keeps peaks of its own, enough to pass the
  spectral lane's own test for reused audio (z >= MIN_SCORE and kappa >= `min_kappa`: most of its
  peaks, where unrelated music in the same key and tempo shares 0.15-0.25), and stays; a recording
  that only shared the stronger one's material has nothing left, and the overlap is cut out of its
  runs.

Nothing is decided where the spectrogram cannot tell: a weaker run whose peaks do not pass that test
even before the stronger one is taken out (a lane that sees what the presence map does not) is left
as it is, and so is an overlap shorter than `SpectralConfig.smooth_seconds` (the span the spectral
lane measures kappa over). Every cut is written into the evidence.
"""

from dataclasses import dataclass, replace

import numpy as np

from fingerprinting.engine import spectral
from fingerprinting.engine.composition import LANE as COMPOSITION_LANE
from fingerprinting.engine.config import EngineConfig
from fingerprinting.engine.runs import Run
from fingerprinting.engine.signal import FRAME_SECONDS

# A run's alignment, as the lanes report it, can be a frame or two off the spectral lane's grid (a
# Chromaprint item is 5 frames long); the statistic is taken at the offset around it where most of the
# recording's peaks are present (the largest kappa). The stronger recording's peaks are taken out at
# that offset, and one frame off leaves enough of them behind to keep a recording it explains (the
# 1-frame tolerance of the presence map; tuning part, "Theme" / "Christmas Theme").
OFFSET_SEARCH_FRAMES = 2


@dataclass(frozen=True)
class Cut:
    """A stretch of clip time taken from a recording's run because another explains it."""

    run: Run  # the weaker recording's run as it was
    by: int  # the stronger recording's position
    clip_start: float
    clip_end: float
    weaker_evidence: tuple[float, float]  # (z, kappa) of the weaker recording over the stretch
    stronger_evidence: tuple[float, float]
    left: tuple[float, float]  # the weaker recording's, the stronger one's peaks taken out
    shared: tuple[float, float]  # the weaker recording's catalog peaks against the stronger one's

    def as_evidence(self, index) -> dict:
        return {
            **_where(index, self.run, self.by, self.clip_start, self.clip_end),
            "z": round(self.weaker_evidence[0], 3),
            "kappa": round(self.weaker_evidence[1], 3),
            "explained_by_z": round(self.stronger_evidence[0], 3),
            "explained_by_kappa": round(self.stronger_evidence[1], 3),
            "z_without": round(self.left[0], 3),
            "kappa_without": round(self.left[1], 3),
            "shared_z": round(self.shared[0], 3),
        }


def _where(index, run: Run, by: int, clip_start: float, clip_end: float) -> dict:
    """The evidence every cut starts with: whose run, explained by whom, over which clip time."""
    return {
        "isrc": index.recordings[run.recording]["isrc"],
        "explained_by": index.recordings[by]["isrc"],
        "clip_start": round(clip_start, 2),
        "clip_end": round(clip_end, 2),
        "method": run.lane,
    }


def offset_frames(run: Run) -> int:
    """The run's alignment in spectrogram frames: recording frame = clip frame x tempo + offset."""
    return int(round((run.rec_start - run.clip_start * run.transform.tempo) / FRAME_SECONDS))


def _evidence_at(presence, peaks, run: Run, frames: tuple[int, int], config: EngineConfig):
    """(z, kappa, offset) of the run's recording over clip frames [a, b), at the offset near the run's
    own with the largest kappa; None where too few of its peaks fall there."""
    best = None
    centre = offset_frames(run)
    for offset in range(centre - OFFSET_SEARCH_FRAMES, centre + OFFSET_SEARCH_FRAMES + 1):
        found = spectral.span_evidence(presence, *peaks, offset, frames, config.spectral, run.transform)
        if found is not None and (best is None or found[1] > best[1]):
            best = (*found, offset)
    return best


def _reused(evidence: tuple[float, ...], config: EngineConfig) -> bool:
    """Does (z, kappa) look like reused audio by the spectral lane's own test for a run?"""
    return evidence[0] >= spectral.MIN_SCORE and evidence[1] >= config.spectral.min_kappa


def _overlap(a: Run, b: Run) -> tuple[float, float]:
    return max(a.clip_start, b.clip_start), min(a.clip_end, b.clip_end)


def _seconds(span: tuple[float, float]) -> float:
    return max(0.0, span[1] - span[0])


def _without(run: Run, start: float, end: float, min_seconds: float) -> list[Run]:
    """The run with clip time [start, end) taken out: none, one or two runs, each at least
    `min_seconds` long, their recording times moved along."""
    pieces = []
    for a, b in ((run.clip_start, min(run.clip_end, start)), (max(run.clip_start, end), run.clip_end)):
        if b - a >= min_seconds:
            tempo = run.transform.tempo
            pieces.append(
                replace(
                    run,
                    clip_start=a,
                    clip_end=b,
                    rec_start=run.rec_start + (a - run.clip_start) * tempo,
                    rec_end=run.rec_start + (b - run.clip_start) * tempo,
                )
            )
    return pieces


def explain_away(runs: list[Run], context) -> tuple[list[Run], list[Cut]]:
    """`runs` with the clip time each weaker recording owes only to material it shares with a stronger
    one taken out, and the cuts made."""
    min_overlap = context.config.spectral.smooth_seconds
    kept, cuts = list(runs), []
    for weaker in sorted(runs, key=lambda r: (r.clip_start, r.recording, r.lane)):
        if weaker.lane == COMPOSITION_LANE:
            continue  # a re-performance shares no peaks with anything: the spectrogram cannot judge it
        others = [r for r in kept if r.recording != weaker.recording and r.lane != COMPOSITION_LANE]
        for stronger in sorted(others, key=lambda r: (-_seconds(_overlap(weaker, r)), r.recording)):
            start, end = _overlap(weaker, stronger)
            if end - start < min_overlap:
                continue
            cut = _explained_by(weaker, stronger, start, end, context)
            if cut is not None:
                cuts.append(cut)
                kept.remove(weaker)
                kept.extend(_without(weaker, start, end, context.config.spectral.min_run_seconds))
                break
    return kept, cuts


def _shared(weaker: Run, offset: int, their_peaks, frames: tuple[int, int], context):
    """(z, kappa) of the weaker recording's catalog peaks (at `offset`) against the stronger one's
    (`their_peaks`, where they fall in the clip) over clip frames [a, b): the catalog's own word on
    whether the two hold the same material there, whatever the clip. None: too few peaks to say."""
    config, peaks_of = context.config, context.index.peaks
    theirs_only = spectral.PresenceMap.of_peaks(
        [their_peaks], context.clip.presence.present.shape, config.spectral
    )
    return spectral.span_evidence(
        theirs_only, *peaks_of(weaker.recording), offset, frames, config.spectral, weaker.transform
    )


def _explained_by(weaker: Run, stronger: Run, start: float, end: float, context) -> Cut | None:
    """The cut, if over clip time [start, end) `weaker` is there only through `stronger`'s peaks."""
    config, presence, peaks_of = context.config, context.clip.presence, context.index.peaks
    frames = (int(start / FRAME_SECONDS), int(np.ceil(end / FRAME_SECONDS)))
    mine = _evidence_at(presence, peaks_of(weaker.recording), weaker, frames, config)
    theirs = _evidence_at(presence, peaks_of(stronger.recording), stronger, frames, config)
    if mine is None or theirs is None or theirs[1] <= mine[1]:
        return None  # not the weaker of the two here
    if not _reused(mine, config):
        return None  # the spectrogram does not see this recording here: nothing to decide
    their_peaks = spectral.mapped_peaks(*peaks_of(stronger.recording), theirs[2], stronger.transform)
    shared = _shared(weaker, mine[2], their_peaks, frames, context)
    if shared is None or shared[0] < spectral.MIN_SCORE:
        return None  # the two recordings hold different material here, whatever the clip: a mix
    rest = presence.without([their_peaks], config.spectral)
    alone = spectral.span_evidence(
        rest, *peaks_of(weaker.recording), mine[2], frames, config.spectral, weaker.transform
    )
    if alone is not None and _reused(alone, config):
        return None  # peaks of its own: both are in the clip (a mix)
    left = alone if alone is not None else (0.0, 0.0)
    return Cut(weaker, stronger.recording, start, end, mine[:2], theirs[:2], left[:2], shared)


@dataclass(frozen=True)
class WeakCut:
    """Clip time taken from a weak spectral run because a full-strength run of another recording that
    shares its material covers it."""

    run: Run
    by: int
    clip_start: float
    clip_end: float

    def as_evidence(self, index) -> dict:
        return {
            **_where(index, self.run, self.by, self.clip_start, self.clip_end),
            "kappa": round(float(self.run.detail.get("kappa", 0.0)), 3),
            "reason": "weak run under a full-strength run of a recording sharing its material",
        }


def weak_where_unexplained(runs: list[Run], context) -> tuple[list[Run], list[WeakCut]]:
    """`runs` with every weak spectral run (spectral.is_weak) cut where a full-strength run of another
    recording that shares its material covers the clip, keeping the pieces at least a run long, and
    the cuts made.

    A weak run is a recording showing a fifth to a third of its peaks beyond chance. Alone in the clip,
    that is a source under louder music nobody catalogued, and the calibration says whether chance
    explains it. Beside a recording found in full whose catalog peaks it shares (explaining away's
    catalog test), it is as likely to be that material as a quieter partner, and at that strength the
    spectrogram cannot tell them apart (explaining away needs the full run test to keep a partner), so
    it is not paid there. Beside a recording it shares nothing with, it is the quieter partner of a
    mix."""
    full = [r for r in runs if not spectral.is_weak(r) and r.lane != COMPOSITION_LANE]
    kept, cuts = [], []
    for run in runs:
        pieces = [run]
        if spectral.is_weak(run):
            for other in sorted(full, key=lambda r: (r.clip_start, r.recording)):
                if other.recording != run.recording:
                    pieces = _cut_where_shared(pieces, run, other, context, cuts)
        kept.extend(pieces)
    return kept, cuts


def _cut_where_shared(pieces: list[Run], run: Run, other: Run, context, cuts: list[WeakCut]) -> list[Run]:
    """The pieces of weak `run` with the time `other` covers taken out where the two share material;
    each cut is appended to `cuts`."""
    left = []
    for piece in pieces:
        start, end = _overlap(piece, other)
        if end <= start or not _share_material(piece, other, start, end, context):
            left.append(piece)
            continue
        cuts.append(WeakCut(run, other.recording, start, end))
        left.extend(_without(piece, start, end, context.config.spectral.min_run_seconds))
    return left


def _share_material(weak: Run, full: Run, start: float, end: float, context) -> bool:
    """Do the two recordings' catalog peaks agree beyond chance over clip time [start, end), each at
    its run's alignment? True where too few peaks fall there to tell (the weak run is not paid on a
    guess)."""
    frames = (int(start / FRAME_SECONDS), int(np.ceil(end / FRAME_SECONDS)))
    their_peaks = spectral.mapped_peaks(
        *context.index.peaks(full.recording), offset_frames(full), full.transform
    )
    shared = _shared(weak, offset_frames(weak), their_peaks, frames, context)
    return shared is None or shared[0] >= spectral.MIN_SCORE
