"""The lane interface and the verbatim lanes.

A lane looks at a clip (its features, computed once and shared: `ClipFeatures`) against a catalog
index and returns `Run`s, each with the lane's score. The pipeline (engine.pipeline) turns scores into
false-alarm chances with the index's calibration, keeps the runs below the evidence bound, and hands
the next lane what was found so far (`LaneContext.found`), so an expensive lane can skip a clip the
cheaper ones already explain. Leave-one-out calibration (engine.calibration) runs the same lanes with
`LaneContext.exclude` naming the recordings that must not be found.

A new lane is a class with a `name` and a `find(clip, index, context) -> list[Run]`, added to
`VERBATIM_LANES` (or run by the pipeline after them); its scores are calibrated like the others'.
"""

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Protocol

import numpy as np

from fingerprinting.engine import chromaprint, composition, landmarks, lines, spectral, style
from fingerprinting.engine.catalog import CatalogIndex
from fingerprinting.engine.config import EngineConfig
from fingerprinting.engine.runs import IDENTITY, Run, Transform, coverage, select_runs
from fingerprinting.engine.signal import ANALYSIS_SR, FRAME_SECONDS, log_spectrogram, spectral_peaks


class ClipFeatures:
    """A clip's analyses, each computed on first use and shared by every lane."""

    def __init__(self, samples: np.ndarray, config: EngineConfig, embedder):
        self.samples = samples
        self.config = config
        self.embedder = embedder
        self.duration = len(samples) / ANALYSIS_SR

    @cached_property
    def log(self) -> np.ndarray:
        return log_spectrogram(self.samples)

    @cached_property
    def peaks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lm = self.config.landmark
        return spectral_peaks(self.log, (lm.peak_frames, lm.peak_bins))

    @cached_property
    def presence(self) -> spectral.PresenceMap:
        return spectral.PresenceMap.of(self.log, self.config.spectral)

    @cached_property
    def fingerprint(self) -> np.ndarray:
        return chromaprint.fingerprint(self.samples)

    @cached_property
    def segments(self):
        return self.embedder.describe(self.samples)

    @cached_property
    def registers(self) -> lines.Registers:
        """The clip's spectrum split into bass and upper registers (which line a composition run matched)."""
        return lines.registers(self.samples)

    @property
    def windows(self) -> list[tuple[float, float]]:
        return [(float(s), float(e)) for s, e in zip(self.segments.starts, self.segments.ends, strict=True)]


@dataclass
class LaneContext:
    clip: ClipFeatures
    index: CatalogIndex
    config: EngineConfig
    exclude: frozenset[int] = frozenset()  # recordings to act as if absent (calibration)
    declared: tuple[int, ...] = ()  # positions of the partner's declared references
    found: list[Run] = field(default_factory=list)  # evidence kept from the lanes before
    style_result: style.StyleResult | None = None  # the style lane's result, once it ran
    composition_result: composition.CompositionResult | None = None  # the composition lane's, once it ran

    @cached_property
    def queries(self) -> np.ndarray:
        """The clip's window embeddings, standardised as the catalog's."""
        return self.index.standardizer.transform(self.clip.segments.raw)

    @cached_property
    def neighbours(self) -> dict[int, np.ndarray]:
        """Per recording, its best FAISS similarity per clip window (engine.style)."""
        return style.faiss_neighbours(self.index, self.queries, self.config.style, self.exclude)

    def explained(self, duration: float) -> float:
        return coverage(select_runs(self.found, min_new_seconds=self.config.shares.min_new_seconds), duration)


class Lane(Protocol):
    """A lane finds runs; it may also define `describe(context, run) -> Run`, figures that only the
    runs kept as evidence need (the pipeline calls it on them alone, after calibration)."""

    name: str

    def find(self, context: LaneContext) -> list[Run]: ...


class ChromaprintLane:
    name = chromaprint.LANE

    def find(self, context: LaneContext) -> list[Run]:
        clip = context.clip
        return chromaprint.find_runs(
            context.index.chromaprint, clip.fingerprint, context.config.chromaprint, context.exclude
        )


class LandmarkLane:
    name = landmarks.LANE

    def find(self, context: LaneContext) -> list[Run]:
        clip = context.clip
        return landmarks.find_runs(
            context.index.landmarks,
            clip.peaks,
            context.config.landmark,
            context.exclude,
            peaks_of=context.index.peaks,
        )


class SpectralLane:
    """The spectral lane without a transform: recordings mixed under louder music. Two passes, as the
    landmark lane: all of the clip's peaks first; then, when sources are known (from the lanes before
    or this lane's first pass), the peaks they explain are taken out of the clip's peaks and of its
    presence map, and what is left is searched again: the quieter partner of a mix surfaces there,
    its peaks no longer outvoted and its hits no longer diluted by the louder source's."""

    name = spectral.LANE

    def find(self, context: LaneContext) -> list[Run]:
        clip, cfg = context.clip, context.config
        first = self._search(context, spectral.select_clip_peaks(clip.peaks, cfg.spectral), clip.presence)
        known = self._sources(context, first)
        if not known:
            return first
        explained = [(frames - offset, bins) for (frames, bins), offset in known.values()]
        rest = landmarks.without_explained(*clip.peaks, explained)
        second = self._search(
            context,
            spectral.select_clip_peaks(rest, cfg.spectral),
            clip.presence.without(explained, cfg.spectral),
            exclude=frozenset(known),
        )
        return first + second

    @staticmethod
    def _search(context: LaneContext, peaks, presence, exclude: frozenset[int] = frozenset()) -> list[Run]:
        cfg = context.config
        return spectral.verified_runs(
            context.index.landmarks,
            context.index.peaks,
            presence,
            peaks,
            transform=IDENTITY,
            recordings=cfg.spectral.candidate_recordings,
            landmark=cfg.landmark,
            config=cfg.spectral,
            exclude=context.exclude | exclude,
        )

    @staticmethod
    def _sources(
        context: LaneContext, first: list[Run]
    ) -> dict[int, tuple[tuple[np.ndarray, np.ndarray], int]]:
        """Recordings known to be in the clip, with their catalog peaks and offset (frames): the
        evidence of the lanes before, and this lane's first-pass runs strong enough to be evidence
        whatever the calibration (`second_pass_min_score`)."""
        runs = [r for r in context.found if r.transform.is_identity]
        runs += [r for r in first if r.score >= context.config.spectral.second_pass_min_score]
        out = {}
        for run in sorted(runs, key=lambda r: -r.score):
            if run.recording not in out:
                offset = int(round((run.rec_start - run.clip_start) / FRAME_SECONDS))
                out[run.recording] = (context.index.peaks(run.recording), offset)
        return out


class TransformGridLane:
    """The spectral lane over the grid of tempo and pitch transforms, for clips the identity lanes
    left unexplained, and only where a transformed copy is plausible: the style lane's melodic
    alignment (run before this lane) already found, for each of the clip's nearest recordings, the
    transposition and tempo that fit best and how well (window z). Recordings aligning at least
    `grid_min_style_z` are tried, over the grid points within `grid_semitone_reach` and
    `grid_tempo_reach` of their alignment; the rest of the catalog and of the grid is spared."""

    name = "spectral_grid"

    def plausible(self, context: LaneContext) -> dict[Transform, frozenset[int]]:
        cfg = context.config.spectral
        style = context.style_result
        if style is None or not style.candidates:
            return {}
        best_z = style.z.max(axis=0) if style.z.size else np.zeros(len(style.candidates))
        declared = set(context.declared)
        order = sorted(
            range(len(style.candidates)), key=lambda j: (-style.alignments[j].score, style.candidates[j])
        )
        # The best-aligned recording (whole-clip alignment score) needs less: an off-grid
        # transposition (a quarter tone) smears the chroma the alignment works on, and lowers its window
        # z, not its rank.
        chosen = [
            j
            for rank, j in enumerate(order)
            if best_z[j] >= (cfg.grid_top_min_style_z if rank == 0 else cfg.grid_min_style_z)
        ][: cfg.grid_candidate_recordings]
        chosen += [j for j in order if style.candidates[j] in declared and j not in chosen]
        out: dict[Transform, set[int]] = {}
        for j in chosen:
            al = style.alignments[j]
            semitones = al.clip_semitones
            tempo = 1.0 / al.tempo_step
            for grid_tempo, grid_semitones in cfg.grid:
                if (
                    abs(grid_semitones - semitones) <= cfg.grid_semitone_reach
                    and abs(grid_tempo - tempo) <= cfg.grid_tempo_reach
                ):
                    out.setdefault(Transform(grid_tempo, grid_semitones), set()).add(style.candidates[j])
        return {t: frozenset(r) - context.exclude for t, r in out.items()}

    def find(self, context: LaneContext) -> list[Run]:
        clip = context.clip
        cfg = context.config
        if context.explained(clip.duration) >= cfg.spectral.grid_skip_coverage:
            return []
        plausible = self.plausible(context)
        selected = spectral.select_clip_peaks(clip.peaks, cfg.spectral)
        runs: list[Run] = []
        covered = np.zeros(clip.presence.frames, bool)
        for tempo, semitones in cfg.spectral.grid:
            transform = Transform(tempo=tempo, semitones=semitones)
            if not plausible.get(transform):
                continue
            found = spectral.verified_runs(
                context.index.landmarks,
                context.index.peaks,
                clip.presence,
                selected,
                transform=transform,
                recordings=len(plausible[transform]),
                landmark=cfg.landmark,
                config=cfg.spectral,
                exclude=context.exclude,
                only=plausible[transform],
            )
            runs.extend(replace(run, lane=self.name) for run in found)
            for run in found:
                covered[
                    int(round(run.clip_start / FRAME_SECONDS)) : int(round(run.clip_end / FRAME_SECONDS))
                ] = True
            if len(covered) and covered.mean() >= cfg.spectral.grid_skip_coverage:
                break  # the clip is explained: the rest of the grid is spared
        return runs


class CompositionLane:
    """A catalog work re-performed with new sounds (engine.composition), for clips the verbatim lanes
    left unexplained; off unless `config.composition.enabled`. Its runs implicate the composition
    only (the shares they give have right `composition`)."""

    name = composition.LANE

    def find(self, context: LaneContext) -> list[Run]:
        clip, cfg = context.clip, context.config.composition
        if not cfg.enabled or context.explained(clip.duration) >= cfg.skip_coverage:
            return []
        chroma = clip.segments.chroma
        context.composition_result = result = composition.align(context.index, chroma, cfg, context.exclude)
        return composition.runs_of(result, chroma, context.index, clip.duration)

    def describe(self, context: LaneContext, run: Run) -> Run:
        """A run kept as evidence, with which line of the work it matched and the phrases that follow it."""
        assert context.composition_result is not None  # find ran first
        return composition.described(
            run,
            context.composition_result,
            context.clip.registers,
            context.clip.segments.chroma,
            context.index,
            context.config.composition,
        )


# The lanes run before the style lane (no transform), and the one run after it (it uses the style
# lane's alignments to decide where a transformed copy is plausible).
IDENTITY_LANES: tuple[Lane, ...] = (ChromaprintLane(), LandmarkLane(), SpectralLane())
TRANSFORM_LANES: tuple[Lane, ...] = (TransformGridLane(),)
VERBATIM_LANES: tuple[Lane, ...] = IDENTITY_LANES + TRANSFORM_LANES
# Run last, and only when enabled: re-performances (no audio reused).
COMPOSITION_LANES: tuple[Lane, ...] = (CompositionLane(),)
