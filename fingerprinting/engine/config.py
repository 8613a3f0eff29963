"""Every tunable number of the engine, in one frozen config saved with every attribution.

Each knob carries its unit in its name, a one-line reason and the data it was fitted on:
- "synth": the synthesized benchmark catalog (bench/attribution_quality.py --corpus synth --seed 1);
- "real-tuning": the tuning part of the real-music corpus (bench/real_corpus.py; never the reporting
  part, which only measures);
- "reperformance-tuning": the tuning part of the re-performance corpus (bench/reperformance_corpus.py;
  the composition lane's knobs);
- "design": follows from the method (a unit, a format, a resolution), not fitted.

`EngineConfig.as_dict()` is what an attribution stores; `describe()` adds the reasons (docs and the
admin show it). Change a default only with a benchmark run on the tuning data, and say so here.
"""

import hashlib
import json
import math
from dataclasses import dataclass, field, fields, is_dataclass

import numpy as np


def knob(value, reason: str, fitted_on: str = "design"):
    return field(default=value, metadata={"reason": reason, "fitted_on": fitted_on})


@dataclass(frozen=True)
class ChromaprintConfig:
    key_bits: int = knob(20, "inverted-index key: the top bits of a sub-fingerprint (1M keys)")
    max_postings: int = knob(2000, "a key this common (silence, drones) carries no information", "synth")
    min_votes: int = knob(4, "pooled offset votes an alignment needs to be examined", "synth")
    candidates: int = knob(24, "alignments examined per clip", "synth")
    smooth_items: int = knob(16, "items (2 s) the bit error rate is smoothed over to find a run", "synth")
    extend_ber: float = knob(0.33, "a run extends while its smoothed BER stays below this", "synth")
    min_run_items: int = knob(12, "items (3.8 s of audio with the classifier span) a run needs", "synth")


@dataclass(frozen=True)
class LandmarkConfig:
    catalog_peaks_per_second: int = knob(30, "peaks kept per second of a catalog recording", "synth")
    query_peaks_per_second: int = knob(
        60, "a clip keeps denser peaks: a quieter source's peaks rank lower in a mix", "synth"
    )
    peak_frames: int = knob(11, "neighbourhood (frames) a landmark peak dominates", "synth")
    peak_bins: int = knob(15, "neighbourhood (bins) a landmark peak dominates", "synth")
    fanout: int = knob(4, "pairs per anchor peak: its nearest later peaks")
    target_frames: int = knob(40, "the farthest a paired peak may be (0.93 s); dt fits 6 bits")
    max_df_bins: int = knob(63, "the farthest in frequency a paired peak may be; df fits 8 bits")
    max_postings: int = knob(400, "a hash this common carries no information", "synth")
    max_repeats: int = knob(
        3, "a hash its recording repeats more often than this (a loop) cannot pin an alignment", "design"
    )
    min_votes: int = knob(7, "pooled votes an alignment needs to be tested", "synth")
    min_vote_fraction: float = knob(0.008, "... and this fraction of the clip's hashes", "synth")
    candidates: int = knob(16, "recordings tested per pass", "synth")
    run_gap_seconds: float = knob(3.0, "matching anchors further apart than this start a new run", "synth")
    min_run_matches: int = knob(7, "matching anchors a run needs", "synth")
    min_run_seconds: float = knob(2.0, "shortest run", "synth")


@dataclass(frozen=True)
class SpectralConfig:
    candidate_peaks_per_second: int = knob(90, "clip peaks hashed to propose alignments", "synth")
    candidate_recordings: int = knob(32, "recordings whose best alignments are verified", "synth")
    candidate_offsets: int = knob(3, "offsets verified per recording (a piece's repeats vote too)", "synth")
    candidate_min_votes: int = knob(
        3, "pooled votes a proposed alignment needs (no significance test)", "synth"
    )
    candidate_scan: int = knob(4000, "alignments looked at, best-voted first")
    local_max_frames: int = knob(5, "presence map: frames a small local maximum dominates", "synth")
    local_max_bins: int = knob(7, "presence map: bins a small local maximum dominates", "synth")
    background_bins: int = knob(31, "... and it must be above the mean level of this many bins", "synth")
    tolerance_frames: int = knob(3, "a catalog peak hits within +-1 frame ...", "synth")
    tolerance_bins: int = knob(3, "... and +-1 bin", "synth")
    smooth_seconds: float = knob(2.0, "window kappa is measured over", "synth")
    min_window_peaks: int = knob(10, "catalog peaks a window needs for kappa to mean anything")
    run_kappa: float = knob(0.2, "a run is a stretch where window kappa stays above this", "real-tuning")
    min_run_seconds: float = knob(3.0, "shortest run", "synth")
    min_kappa: float = knob(
        0.3,
        "a run needs this much of the recording's peaks beyond chance (masked true sources 0.35+, "
        "unrelated music in one key and tempo 0.15-0.25)",
        "real-tuning",
    )
    weak_kappa: float = knob(
        0.2,
        "a run with kappa from this up to min_kappa is cut where a full-strength run of a recording "
        "sharing its material lies (a source under unknown louder music keeps 0.22-0.26 of its peaks "
        "beyond chance; material shared with a recording found in full shows 0.2-0.3)",
        "real-tuning",
    )
    second_pass_min_score: float = knob(
        15.0, "a first-pass run this strong is a known source the second pass explains away", "real-tuning"
    )
    merge_gap_seconds: float = knob(
        2.0, "stretches of one alignment closer than this are one run (a masked source dips)", "real-tuning"
    )
    # The transform grid: (tempo, semitones) tried when the identity lanes leave the clip unexplained.
    # Pitch in half-semitone steps: a quarter tone off a grid point moves peaks ~1.5 % (7 bins at the
    # top), beyond the 1-bin tolerance. Tempo in 5 % steps: a clip 2.5 % off still gives runs where the
    # drift stays within a frame or two; 2.5 % steps brought unrelated music closer (synth). Speed
    # (tempo and pitch together, a resampled or mis-clocked render) at +-3 % and +-6 %: 12 log2(s)
    # semitones with tempo s.
    grid: tuple = knob(
        tuple((1.0, k / 2) for k in (2, -2, 4, -4, 1, -1, 3, -3))
        + tuple((r, 0.0) for r in (1.05, 0.95, 1.1, 0.9))
        + tuple((r, round(12 * math.log2(r), 3)) for r in (1.03, 0.97, 1.06, 0.94)),
        "tempo x0.9-1.1, pitch +-2 semitones and speed +-3/6 % in the steps above",
        "synth",
    )
    grid_skip_coverage: float = knob(0.9, "the grid is not tried once runs cover this much of the clip")
    grid_candidate_recordings: int = knob(4, "best-aligned recordings the grid is tried on", "real-tuning")
    grid_min_style_z: float = knob(
        1.5,
        "... if their melodic alignment reaches this window z (a plausible transformed copy)",
        "real-tuning",
    )
    grid_top_min_style_z: float = knob(
        0.5, "... or this, for the best-aligned recording (quarter-tone shifts smear chroma)", "synth"
    )
    grid_semitone_reach: float = knob(1.0, "grid points within this of the alignment's transposition")
    grid_tempo_reach: float = knob(0.06, "... and within this of its tempo (the alignment's 0.03 steps, x2)")


@dataclass(frozen=True)
class StyleConfig:
    faiss_k: int = knob(128, "segments retrieved per clip window", "synth")
    max_candidates: int = knob(16, "recordings aligned per clip", "synth")
    null_size: int = knob(12, "random catalog recordings aligned per clip as the per-window null", "synth")
    prior_mean: float = knob(0.35, "prior mean alignment score of unrelated music", "synth")
    prior_sd: float = knob(0.10, "prior spread of it", "synth")
    prior_weight: float = knob(4.0, "pseudo-observations of the prior (small catalogs)", "synth")
    sd_floor: float = knob(0.04, "smallest null spread, so one tight null cannot inflate z", "synth")


@dataclass(frozen=True)
class SharesConfig:
    null_mass: float = knob(0.5, "'no attribution' mass weak style evidence competes with", "synth")
    min_share: float = knob(0.01, "smaller shares are dropped (into the remainder)")
    max_shares: int = knob(10, "most recordings one clip pays")
    min_new_seconds: float = knob(
        3.0, "a run overlapping better ones of its recording must add this", "synth"
    )


@dataclass(frozen=True)
class EvidenceConfig:
    max_false_alarm: float = knob(
        0.002,
        "a run is evidence only if unrelated music gives one this strong in fewer than 1 clip in 500 "
        "(per lane; four verbatim lanes keep the false share rate under 1 %)",
        "design",
    )


@dataclass(frozen=True)
class AcceptanceConfig:
    max_false_alarm: float = knob(
        1e-4, "auto-accepted only if every share's strongest run is this unlikely by chance", "design"
    )
    min_confidence: float = knob(0.75, "auto-accepted only above this confidence", "synth")


@dataclass(frozen=True)
class CalibrationConfig:
    query_seconds: float = knob(20.0, "leave-one-out query length: a typical generated clip")
    per_recording: int = knob(3, "queries per sampled recording, spread over it")
    max_queries: int = knob(240, "queries per index version (~20 s of CPU)")
    reuse_change: float = knob(
        0.1, "a new index version keeps its parent's calibration while the catalog changed less than this"
    )
    min_queries: int = knob(12, "fewer queries than this: the lane priors alone")
    tail_fraction: float = knob(0.2, "the top fifth of query maxima is modelled as an exponential tail")
    prior_weight: float = knob(4.0, "pseudo-observations of the prior tail scale")
    prior_exceed: float = knob(0.5, "prior-only nulls: half the queries reach the prior tail start")
    reuse_lanes: tuple = knob(
        ("chromaprint", "landmark", "spectral", "spectral_grid"), "lanes whose matches reveal related pairs"
    )
    related_alpha: float = knob(
        0.01, "a query scoring beyond what 1 in 100 calibrations would see by chance matched a relative"
    )
    # (lane, tail start, tail scale), in the lane's score units: the tail a catalog too small to
    # calibrate gets, near the tuning catalog's own leave-one-out tails.
    prior_tail: tuple = knob(
        (
            ("chromaprint", 0.5, 0.6),
            ("landmark", 4.0, 2.0),
            ("spectral", 4.6, 0.8),
            ("spectral_grid", 3.2, 1.4),
            ("style", 3.0, 1.0),
        ),
        "per-lane prior of the best score unrelated clips reach",
        "real-tuning",
    )

    # A floor under every catalog's own calibration: how unrelated real music behaves against a
    # catalog it shares nothing with, (lane, tail start, fraction of clips reaching it, tail scale),
    # measured with `bench/reference_null.py` on the 200 negatives of the real corpus's tuning part
    # (hedgewars-data against the supertux-data catalog of 45 recordings). Leave-one-out on a catalog
    # sees that catalog's own style only; a clip of another kind of music (orchestral pads against
    # chiptunes) can agree more by chance, so the false-alarm chance is the larger of the two.
    reference_tail: tuple = knob(
        (
            ("chromaprint", 0.043, 0.1, 0.788),
            ("landmark", 4.0, 0.005, 2.0),
            ("spectral", 4.534, 0.2, 0.8),  # engine 2.2.0, weak runs included (was 4.014, 0.045, 1.113)
            ("spectral_grid", 3.2, 0.005, 1.4),
            ("style", 2.287, 0.2, 0.643),
        ),
        "the tails of unrelated real music's best scores (tuning negatives)",
        "real-tuning",
    )
    reference_catalog_size: int = knob(45, "recordings in the catalog the reference was measured on")

    @property
    def priors(self) -> dict[str, tuple[float, float]]:
        return {lane: (start, scale) for lane, start, scale in self.prior_tail}


@dataclass(frozen=True)
class NearDuplicateConfig:
    min_coverage: float = knob(0.5, "runs must cover half the shorter recording to be the same master")
    min_score: float = knob(8.0, "... with runs far beyond chance", "real-tuning")
    max_ber: float = knob(0.2, "... and a low bit error rate", "real-tuning")


def _geometric(lo: float, hi: float, n: int) -> tuple[float, ...]:
    return tuple(round(float(x), 4) for x in np.geomspace(lo, hi, n))


@dataclass(frozen=True)
class CompositionConfig:
    """The composition lane (engine.composition): a catalog work re-performed with new sounds. Off by
    default: its recall is below issue 12's targets on every row of the reporting part, although
    re-rendered unrelated music stays under the false-share gate there (1 of 100 real clips;
    docs/attribution.md, "Fourth pass"). While off it runs nowhere (not at indexing, calibration or
    query time) and `EngineConfig.as_dict()` leaves it out, so configs and their digests are those of
    before."""

    enabled: bool = knob(False, "run the composition lane (query and calibration)")
    patch_frames: int = knob(24, "chroma frames per 2D-FFT patch (4.5 s: a phrase)")
    catalog_hop_frames: int = knob(6, "catalog patches every 1.1 s (the magnitude is shift-tolerant)")
    clip_hop_frames: int = knob(4, "clip patches every 0.74 s")
    retrieval_tempi: tuple = knob(
        _geometric(0.8, 1.25, 5), "clip tempo rescalings searched (issue: 0.8-1.25x), 12 % apart"
    )
    whitening_floor: float = knob(
        0.01,
        "patch descriptors whitened over the catalog, each direction's variance floored at this share of "
        "the largest (raw cosines are all 0.93-0.95; 0.01: candidates for key+tempo 0.5 -> 0.7)",
        "reperformance-tuning",
    )
    exact_patches: int = knob(
        50_000,
        "catalog patches searched exactly (about 300 three-minute recordings: every patch compared, 1.6 us a "
        "patch per clip, 80 ms; bench/composition_scale.py); beyond, an inverted file of quantised patches",
    )
    approximate_sample: int = knob(
        2000, "recordings whose patches fit the approximate index's whitening and lists"
    )
    approximate_codec: str = knob(
        "SQ8",
        "how the approximate index stores a patch (FAISS factory code): 8 bits a dimension, 144 bytes; 2,000 "
        "synthetic recordings, 128 lists searched (bench/composition_scale.py --codec): sources among the "
        "candidates SQ8 35 of 40 as uncompressed lists (Flat) 35 and exact search 35, PQ at 24 bytes 20",
        "synthetic chroma (bench/composition_scale.py)",
    )
    ivf_probe: int = knob(
        128,
        "inverted lists a clip patch searches at least; 50,000 synthetic recordings (bench/composition_scale.py): "
        "32 lists 122 ms a clip and 22 of 40 sources among the candidates, 64 191 ms and 30, 128 332 ms and 36",
        "synthetic chroma (bench/composition_scale.py)",
    )
    retrieval_k: int = knob(256, "catalog patches retrieved per clip patch and tempo", "reperformance-tuning")
    candidates: int = knob(16, "recordings aligned per clip", "reperformance-tuning")
    alignment_tempi: tuple = knob(
        _geometric(0.8, 1.25, 15), "tempo factors aligned: 3.2 % apart, a 1.6 % error drifts 1 frame in 12 s"
    )
    null_size: int = knob(
        64,
        "random catalog recordings the clip is aligned with as its own null, at most all but the candidates "
        "(16: a clip's z moved +-1.5 between index versions; 64: re-rendered negatives' best z 5.8-6.7 -> "
        "4.4-4.8, stable over null draws, for +0.08 s per clip)",
        "reperformance-tuning",
    )
    prior_mean: float = knob(
        0.2, "prior mean whole-clip alignment of unrelated music", "reperformance-tuning"
    )
    prior_sd: float = knob(0.05, "prior spread of it", "reperformance-tuning")
    prior_weight: float = knob(2.0, "pseudo-observations of the prior (small catalogs)")
    sd_floor: float = knob(0.02, "smallest null spread, so a tight null cannot inflate z")
    lead_weight: float = knob(
        1.0,
        "a run's score is z + this x its lead over the best other recording aligned (composition.lead_of); "
        "tuning part, bench/composition_probe.py, of 30 same-key, key+tempo and melody clips each, "
        "passing a floor just above the tuning negatives' top (z 8.2, lead 4.2, z + lead 10): z alone "
        "9/9/9 synthesized and 22/16/8 real, the lead alone 14/7/8 and 19/17/10, z + lead 17/14/15 "
        "and 23/19/10 (2026-12-02)",
        "reperformance-tuning",
    )
    phrase_frames: int = knob(
        24, "frames per phrase in a kept run's evidence (composition.phrases_agreeing; 4.5 s, as a patch)"
    )
    phrase_tolerance: float = knob(
        0.8,
        "a phrase follows the recording at a run when its cosine there is this share of its own best "
        "alignment with it (a repeat elsewhere in the recording scores the same). Evidence only: tried as "
        "a score term (docs/attribution.md, 'Tried after 2.2.5'), where 0.8 was the best of 0.7-0.9 on the "
        "tuning part's harness (bench/composition_harness.py)",
        "reperformance-tuning",
    )
    skip_coverage: float = knob(0.9, "not run once verbatim runs cover this much of the clip")
    auto_accept: bool = knob(
        False,
        "composition shares go to review: works sharing material (a theme quoted in another track) split "
        "a clip between them, and the lane is new (tuning part: 6 of 40 re-performances also paid a "
        "related piece)",
    )
    prior_tail: tuple = knob(
        (3.25, 1.4),
        "(tail start, scale) of the best score (z + lead) unrelated clips reach, for uncalibrated catalogs: "
        "the reference tail's",
        "real-tuning",
    )
    # As CalibrationConfig.reference_tail for the verbatim lanes: a floor under the catalog's own
    # leave-one-out, how unrelated real music scores against a catalog it shares nothing with (tail
    # start, fraction of clips reaching it, scale), measured by `ENGINE_COMPOSITION_LANE=1
    # bench/reference_null.py` (200 hedgewars negatives against the supertux catalog of 45).
    # The score is z + lead (lead_weight) since 2026-12-02: the refit gave (3.246, 0.2, 0.917), top
    # scores 7.94, 7.97, 8.38, whose exponential puts the top clip at a chance of 7e-4 where it is 1 in
    # 200 (the heavy top every refit of this lane has shown: with z alone, top z 6.51 and 6.84 at 2e-4
    # and 1.3e-4). The scale is therefore set so that the top clip sits at its rank, 0.2 exp(-(8.38 -
    # 3.246) / s) = 1 / 200, s = 1.392, as the z floor before it was (3.22, 0.2, 1.081): it gave the
    # top z's 7e-3 and 9.5e-3. At the evidence bound a 20 s clip needs a score of about 9.7.
    reference_tail: tuple = knob(
        (3.246, 0.2, 1.392),
        "the tail of unrelated real music's best score (tuning negatives), its top at its rank",
        "real-tuning",
    )


@dataclass(frozen=True)
class EngineConfig:
    chromaprint: ChromaprintConfig = ChromaprintConfig()
    landmark: LandmarkConfig = LandmarkConfig()
    spectral: SpectralConfig = SpectralConfig()
    style: StyleConfig = StyleConfig()
    shares: SharesConfig = SharesConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    acceptance: AcceptanceConfig = AcceptanceConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    near_duplicates: NearDuplicateConfig = NearDuplicateConfig()
    composition: CompositionConfig = CompositionConfig()

    def as_dict(self) -> dict:
        values = _values(self)
        if not self.composition.enabled:
            del values["composition"]  # off: the config (and its digest) of engines before the lane
        return values

    def lanes_calibrated(self) -> dict[str, tuple[float, float]]:
        """{lane: prior (tail start, scale)} of every lane the calibration models with this config."""
        priors = dict(self.calibration.priors)
        if self.composition.enabled:
            priors["composition"] = tuple(self.composition.prior_tail)
        return priors

    def reuse_lanes(self) -> tuple[str, ...]:
        """Lanes whose matches between catalog recordings reveal related pairs (shared material): the
        composition lane's too when on, so pieces quoting one theme do not set its chance level."""
        extra = ("composition",) if self.composition.enabled else ()
        return tuple(self.calibration.reuse_lanes) + extra

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:12]

    def describe(self) -> dict:
        """Every knob with its value, reason and the data it was fitted on."""
        out = {}
        for group in fields(self):
            part = getattr(self, group.name)
            out[group.name] = {
                f.name: {"value": _plain(getattr(part, f.name)), **f.metadata} for f in fields(part)
            }
        return out


def _plain(value):
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _values(obj) -> dict:
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = _values(value) if is_dataclass(value) else _plain(value)
    return out


DEFAULT_CONFIG = EngineConfig()
