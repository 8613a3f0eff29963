"""The attribution engine: from decoded audio and a loaded catalog index to influence shares with
evidence. Pure computation (no database); `services.clip_attribute` stores what it returns.

Lanes (docs/attribution.md has the reasoning and the measured figures):
1. verbatim: Chromaprint runs over a resampling grid (fingerprinting.verbatim);
2. style: window embeddings searched in FAISS give candidate recordings; each candidate is verified by
   melodic alignment (fingerprinting.alignment) and its per-window alignment score is z-scored against
   the same score for a random sample of catalog recordings (the per-window null). Evidence counts
   only above `z_threshold`, calibrated per index version by leaving catalog recordings out.

Shares on a 0.1 s grid of the clip: time covered by verbatim runs goes to those recordings (split
equally where runs of several recordings overlap); the rest is split among style evidence by
e^2 / (sum e^2 + NULL_MASS^2), with e the z excess over the threshold, so the "no attribution" mass
NULL_MASS keeps weak evidence from taking much. At most MAX_SHARES recordings, none below MIN_SHARE.
"""

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from fingerprinting import alignment, landmarks, verbatim, verification
from fingerprinting import shares as shares_mod
from fingerprinting.audio import ANALYSIS_SR
from fingerprinting.embedder import ALIGN_FRAME_SECONDS
from fingerprinting.index import CatalogIndex

ENGINE_NAME = "stemma-attribution"
# Recorded in every attribution; 1.1.0: the spectral verification lane; 1.2.0: ... over a grid of tempo
# and pitch transforms (fingerprinting.verification.GRID), and overlapping runs of one recording kept
# when they add time (verbatim.select_runs).
ENGINE_VERSION = "1.2.0"
# The version of what an index version holds (per-recording analysis, inverted indexes, calibration),
# which its name is derived from; the style lane's null sample is seeded by that name. It moves only
# when indexing changes, so a change on the query side alone (1.1.0) neither renames indexes nor
# re-draws the null: the same catalog gets the same index, bit for bit (so did 1.2.0).
INDEX_ENGINE_VERSION = "1.0.0"

FAISS_K = 128
MAX_CANDIDATES = 16
NULL_SIZE = 12
# Per-window null: a normal prior on the alignment score of unrelated music, updated with the sampled
# recordings (PRIOR_WEIGHT pseudo-observations) so small catalogs still get a sane null.
PRIOR_MEAN = 0.35
PRIOR_SD = 0.10
PRIOR_WEIGHT = 4.0
SD_FLOOR = 0.04
Z_DEFAULT = 4.0  # threshold for catalogs too small to calibrate
Z_MIN = 3.0
Z_MARGIN = 0.5
CAL_RECORDINGS = 48
CAL_WINDOWS = 5
NULL_MASS = shares_mod.NULL_MASS
AUTO_ACCEPT_CONFIDENCE = 0.75


def parameters() -> dict:
    return {
        "faiss_k": FAISS_K,
        "max_candidates": MAX_CANDIDATES,
        "null_size": NULL_SIZE,
        "prior": [PRIOR_MEAN, PRIOR_SD, PRIOR_WEIGHT, SD_FLOOR],
        "z_default": Z_DEFAULT,
        "null_mass": NULL_MASS,
        "min_share": shares_mod.MIN_SHARE,
        "max_shares": shares_mod.MAX_SHARES,
        "ber_max": verbatim.BER_MAX,
        "min_run_items": verbatim.MIN_RUN_ITEMS,
        "key_bits": verbatim.KEY_BITS,
        "grid_factors": list(verbatim.GRID_FACTORS),
        "tempo_factors": list(alignment.TEMPO_FACTORS),
        "spectral": verification.parameters(),
    }


@dataclass
class StyleResult:
    candidates: list[int]  # recording positions
    z: np.ndarray  # [n_windows, n_candidates]
    cos: np.ndarray  # alignment cosine per window
    faiss_best: np.ndarray  # best segment similarity per window (0 when not among FAISS_K)
    alignments: list[alignment.Alignment]
    null_mean: np.ndarray
    null_sd: np.ndarray


def _null_positions(index: CatalogIndex, exclude: set[int], size: int) -> list[int]:
    seed = int(hashlib.sha256(index.version.encode()).hexdigest()[:8], 16)
    order = np.random.default_rng(seed).permutation(index.n_recordings)
    return [int(p) for p in order if int(p) not in exclude][:size]


def style_lane(
    index: CatalogIndex,
    queries: np.ndarray,
    chroma: np.ndarray,
    windows: list[tuple[float, float]],
    *,
    exclude: frozenset[int] = frozenset(),
    extra: tuple[int, ...] = (),
) -> StyleResult:
    n_windows = len(windows)
    k = min(FAISS_K, int(index.faiss_index.ntotal))
    best: dict[int, np.ndarray] = {}
    if k > 0 and n_windows:
        sims, ids = index.faiss_index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        valid = ids >= 0
        rows = np.searchsorted(index.seg_ids, np.where(valid, ids, 0))
        recs = np.asarray(index.seg_rec)[np.minimum(rows, len(index.seg_rec) - 1)]
        for w in range(n_windows):
            for sim, rec, ok in zip(sims[w], recs[w], valid[w], strict=True):
                rec = int(rec)
                if not ok or rec in exclude:
                    continue
                arr = best.setdefault(rec, np.zeros(n_windows, dtype=np.float32))
                arr[w] = max(arr[w], float(sim))
    n_cand = min(MAX_CANDIDATES, max(1, index.n_recordings // 2))
    ranked = sorted(best, key=lambda r: (-round(float(best[r].sum()), 6), r))[:n_cand]
    candidates = list(dict.fromkeys([*ranked, *(p for p in extra if p not in exclude)]))
    null = _null_positions(index, set(candidates) | set(exclude), NULL_SIZE)
    positions = candidates + null
    aligned = alignment.align_many(
        chroma,
        [index.recording_chroma(p) for p in positions],
        frame_seconds=ALIGN_FRAME_SECONDS,
        windows=windows,
    )
    cos = np.array([a.window_cos for a in aligned], dtype=np.float64).reshape(len(positions), n_windows).T
    null_cos = cos[:, len(candidates) :]
    seen = np.isfinite(null_cos)
    n_null = seen.sum(axis=1)
    filled = np.where(seen, null_cos, 0.0)
    mean = (filled.sum(axis=1) + PRIOR_WEIGHT * PRIOR_MEAN) / (n_null + PRIOR_WEIGHT)
    squares = np.where(seen, (null_cos - mean[:, None]) ** 2, 0.0).sum(axis=1)
    sd = np.maximum(np.sqrt((squares + PRIOR_WEIGHT * PRIOR_SD**2) / (n_null + PRIOR_WEIGHT)), SD_FLOOR)
    z = (cos[:, : len(candidates)] - mean[:, None]) / sd[:, None]
    z = np.where(np.isfinite(z), z, 0.0)  # no aligned material in that window: no evidence
    cos = np.where(np.isfinite(cos), cos, 0.0)
    faiss_best = (
        np.stack([best.get(p, np.zeros(n_windows, np.float32)) for p in candidates], axis=1)
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


def _as_run(r: landmarks.LandmarkRun, duration: float) -> verbatim.Run:
    return verbatim.Run(
        recording=r.recording,
        clip_start=r.clip_start,
        clip_end=min(duration, r.clip_end),
        rec_start=r.rec_start,
        rec_end=r.rec_end,
        ber=-1.0,
        factor=1.0,
        items=r.matches,
        method="landmark",
    )


def landmark_lane(
    index: CatalogIndex, peaks: tuple[np.ndarray, np.ndarray, np.ndarray], duration: float
) -> list[verbatim.Run]:
    """Landmark runs in two passes: the clip's strongest peaks first; then, if sources were found,
    the peaks those sources do not explain (a quieter source under a louder one surfaces there).
    `peaks` are the clip's spectral peaks in the clip neighbourhood (frame, bin, strength)."""
    t, f, strength = peaks
    found = index.landmarks.match(
        *landmarks.pair_hashes(*landmarks.select(t, f, strength, landmarks.QUERY_PEAKS_PER_SECOND))
    )
    runs = [_as_run(r, duration) for r in found]
    if not found:
        return runs
    best: dict[int, landmarks.LandmarkRun] = {}
    for r in found:
        if r.recording not in best or r.matches > best[r.recording].matches:
            best[r.recording] = r
    explained = []
    for rec, r in sorted(best.items()):
        offset = int(round((r.rec_start - r.clip_start) / landmarks.FRAME_SECONDS))
        rt, rf = index.landmarks.recording_peaks(rec)
        explained.append((rt - offset, rf))
    rest = landmarks.without_explained(t, f, strength, explained)
    second = index.landmarks.match(
        *landmarks.pair_hashes(*landmarks.select(*rest, landmarks.QUERY_PEAKS_PER_SECOND))
    )
    runs.extend(_as_run(r, duration) for r in second if r.recording not in best)
    return runs


def _spectral_run(r: verification.SpectralRun, duration: float) -> verbatim.Run:
    return verbatim.Run(
        recording=r.recording,
        clip_start=r.clip_start,
        clip_end=min(duration, r.clip_end),
        rec_start=r.rec_start,
        rec_end=r.rec_end,
        ber=-1.0,
        factor=1.0,
        items=r.hits,
        method="spectral",
        kappa=r.kappa,
        z=r.z,
        tempo=r.tempo,
        semitones=r.semitones,
    )


def spectral_lane(
    index: CatalogIndex,
    log: np.ndarray,
    peaks: tuple[np.ndarray, np.ndarray, np.ndarray],
    duration: float,
    prior_runs: list[verbatim.Run] = (),
) -> list[verbatim.Run]:
    """Runs of loosely voted landmark candidates verified against the clip's spectrogram
    (fingerprinting.verification): recordings mixed under louder music; then, unless the clip is
    explained by these and `prior_runs`, the same over the tempo and pitch grid."""
    presence = verification.PresenceMap.of(log)
    runs = [
        _spectral_run(r, duration) for r in verification.candidate_runs(index.landmarks, log, peaks, presence)
    ]
    explained = verbatim.coverage(verbatim.select_runs([*prior_runs, *runs]), duration)
    if explained < verification.GRID_SKIP_COVERAGE:
        runs.extend(
            _spectral_run(r, duration) for r in verification.grid_runs(index.landmarks, log, peaks, presence)
        )
    return runs


def calibrate(index: CatalogIndex) -> dict:
    """The z threshold for this index version: leave each of a sample of catalog recordings out, use
    a few of its windows as a clip, and take a high quantile of the best z any *other* recording
    reaches. Same generator of "unrelated but similar" material as real negatives."""
    n = index.n_recordings
    if n < 8:
        return {"z_threshold": Z_DEFAULT, "method": "default (catalog too small)", "samples": 0}
    rng = np.random.default_rng(1234)
    chosen = sorted(int(p) for p in rng.permutation(n)[: min(n, CAL_RECORDINGS)])
    seg_rec = np.asarray(index.seg_rec)
    values = []
    for position in chosen:
        rows = np.nonzero(seg_rec == position)[0][:CAL_WINDOWS]
        if len(rows) == 0:
            continue
        starts = np.asarray(index.seg_start)[rows].astype(float)
        ends = np.asarray(index.seg_end)[rows].astype(float)
        offset = starts[0]
        chroma = index.recording_chroma(position)
        a = int(offset / ALIGN_FRAME_SECONDS)
        b = int(ends[-1] / ALIGN_FRAME_SECONDS)
        excerpt = alignment.normalise_frames(chroma[a:b])
        windows = [(s - offset, e - offset) for s, e in zip(starts, ends, strict=True)]
        result = style_lane(
            index, np.asarray(index.vectors)[rows], excerpt, windows, exclude=frozenset({position})
        )
        if result.z.size:
            values.extend(result.z.max(axis=1).tolist())
    if not values:
        return {"z_threshold": Z_DEFAULT, "method": "default (no samples)", "samples": 0}
    values = np.asarray(values)
    q995 = float(np.quantile(values, 0.995))
    return {
        "z_threshold": round(max(Z_MIN, q995 + Z_MARGIN), 4),
        "method": "leave-one-recording-out, 99.5th percentile of the best other recording's window z + margin",
        "samples": int(len(values)),
        "quantiles": {
            q: round(float(np.quantile(values, float(q))), 4) for q in ("0.5", "0.9", "0.99", "0.995")
        },
        "max": round(float(values.max()), 4),
    }


@dataclass
class ShareResult:
    position: int
    share: float
    lane: str
    evidence: dict


@dataclass
class EngineResult:
    duration: float
    shares: list[ShareResult]
    remainder: float
    confidence: float
    evidence: dict
    timings: dict = field(default_factory=dict)


def _r(x: float, places: int = 4) -> float:
    return float(round(float(x), places))


def attribute_samples(
    index: CatalogIndex, samples: np.ndarray, *, declared_isrcs: tuple[str, ...] = ()
) -> EngineResult:
    """Attribute mono float32 audio at ANALYSIS_SR against a loaded index. Deterministic."""
    timings = {}
    duration = len(samples) / ANALYSIS_SR
    t0 = time.perf_counter()
    log = landmarks.log_spectrogram(samples)
    peaks = landmarks.peaks_of_spectrogram(log, landmarks.QUERY_NEIGHBOURHOOD)
    landmark_runs = landmark_lane(index, peaks, duration)
    timings["landmarks"] = time.perf_counter() - t0
    spectral_runs = spectral_lane(index, log, peaks, duration, landmark_runs)
    timings["spectral"] = time.perf_counter() - t0
    runs, factors = verbatim.match_with_grid(index.verbatim, samples, landmark_runs + spectral_runs)
    timings["verbatim"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    segments = index.embedder.describe(samples)
    queries = index.standardizer.transform(segments.raw)
    windows = [(float(s), float(e)) for s, e in zip(segments.starts, segments.ends, strict=True)]
    timings["embed"] = time.perf_counter() - t1
    isrc_position = {r["isrc"]: i for i, r in enumerate(index.recordings)}
    declared_positions = tuple(isrc_position[i] for i in declared_isrcs if i in isrc_position)
    verbatim_positions = tuple(sorted({run.recording for run in runs}))
    t2 = time.perf_counter()
    style = style_lane(
        index, queries, segments.chroma, windows, extra=verbatim_positions + declared_positions
    )
    timings["style"] = time.perf_counter() - t2
    z_threshold = float(index.meta.get("calibration", {}).get("z_threshold", Z_DEFAULT))

    # -- shares on the time grid -----------------------------------------------------------------
    excess = np.maximum(0.0, style.z - z_threshold)  # [n_windows, n_candidates]
    verbatim_share, style_share = shares_mod.combine(
        duration=duration,
        spans=[shares_mod.Span(r.recording, r.clip_start, r.clip_end) for r in runs],
        windows=windows,
        candidates=style.candidates,
        excess=excess,
    )
    totals: dict[int, float] = {}
    for part in (verbatim_share, style_share):
        for p, v in part.items():
            totals[p] = totals.get(p, 0.0) + v
    ranked = [(v, p) for p, v in shares_mod.rank(totals)]
    uncovered_fraction = 1.0 - min(1.0, sum(verbatim_share.values()))

    cand_index = {p: j for j, p in enumerate(style.candidates)}
    shares = []
    for value, p in ranked:
        runs_p = [run for run in runs if run.recording == p]
        j = cand_index.get(p)
        has_style = j is not None and style_share.get(p, 0.0) > 0
        lane = "both" if runs_p and has_style else ("verbatim" if runs_p else "style")
        shares.append(
            ShareResult(
                position=p,
                share=value,
                lane=lane,
                evidence=_share_evidence(
                    index,
                    p,
                    runs_p,
                    style,
                    j,
                    queries,
                    windows,
                    verbatim_share.get(p, 0.0),
                    style_share.get(p, 0.0),
                ),
            )
        )
    remainder = max(0.0, 1.0 - sum(s.share for s in shares))

    # Confidence: verbatim mass is as good as its bit error rate; style mass as strong as its excess;
    # the unattributed mass as clean as the strongest evidence we did not use.
    conf = 0.0
    for s in shares:
        if s.lane == "verbatim":
            conf += s.share * s.evidence["verbatim"]["quality"]
        else:
            e = s.evidence["style"]["mean_excess"]
            conf += s.share * (e * e / (e * e + NULL_MASS**2))
    kept = {s.position for s in shares}
    unused = [float(excess[:, j].max()) for j, p in enumerate(style.candidates) if p not in kept]
    strongest = max(unused, default=0.0)
    conf += remainder * (1.0 - strongest**2 / (strongest**2 + NULL_MASS**2))

    declared = []
    for isrc in declared_isrcs:
        p = isrc_position.get(isrc)
        if p is None:
            declared.append({"isrc": isrc, "in_catalog": False, "supported": False})
            continue
        j = cand_index.get(p)
        best_z = float(style.z[:, j].max()) if j is not None and style.z.size else None
        seconds = sum(r.seconds for r in runs if r.recording == p)
        declared.append(
            {
                "isrc": isrc,
                "in_catalog": True,
                "supported": bool(seconds > 0 or (best_z is not None and best_z >= z_threshold)),
                "verbatim_seconds": _r(seconds, 2),
                "best_window_z": _r(best_z) if best_z is not None else None,
            }
        )
    timings["total"] = time.perf_counter() - t0
    evidence = {
        "duration_seconds": _r(duration, 3),
        "windows": [[_r(s, 2), _r(e, 2)] for s, e in windows],
        "verbatim": {
            "factors_tried": factors,
            "runs": len(runs),
            "covered_fraction": _r(1.0 - uncovered_fraction),
        },
        "style": {
            "z_threshold": _r(z_threshold),
            "candidates": [index.recordings[p]["isrc"] for p in style.candidates],
            "null_mean": [_r(x) for x in style.null_mean],
            "null_sd": [_r(x) for x in style.null_sd],
        },
        "declared_references": declared,
    }
    return EngineResult(
        duration=duration,
        shares=shares,
        remainder=remainder,
        confidence=_r(min(1.0, conf)),
        evidence=evidence,
        timings={k: _r(v, 4) for k, v in timings.items()},
    )


def _share_evidence(index, p, runs_p, style, j, queries, windows, verbatim_part, style_part) -> dict:
    out = {"verbatim_share": _r(verbatim_part, 6), "style_share": _r(style_part, 6)}
    if runs_p:
        bers = [run.ber for run in runs_p if run.method == "chromaprint"]
        density = [run.items / max(run.seconds, 1e-6) for run in runs_p if run.method == "landmark"]
        kappas = [run.kappa for run in runs_p if run.method == "spectral"]
        # Run quality in [0, 1]: Chromaprint by bit error rate (0 -> 1, 0.25 -> 0.5), landmarks by
        # matching pairs per second (3/s and more -> 1), spectral verification by the fraction of the
        # recording's peaks present beyond chance.
        quality = max(
            [max(0.0, 1.0 - b / 0.5) for b in bers]
            + [min(1.0, d / 3.0) for d in density]
            + [min(1.0, max(0.0, k)) for k in kappas]
            + [0.0]
        )
        out["verbatim"] = {
            "runs": [run.as_evidence() for run in runs_p],
            "seconds": _r(sum(run.seconds for run in runs_p), 2),
            "mean_ber": _r(np.mean(bers)) if bers else None,
            "quality": _r(quality),
        }
    if j is not None:
        z = style.z[:, j]
        al = style.alignments[j]
        rows = np.nonzero(np.asarray(index.seg_rec) == p)[0]
        vectors = np.asarray(index.vectors)[rows]
        per_window = []
        aspect_sum: dict[str, float] = {}
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
                entry["rec_start"] = _r(float(index.seg_start[rows[k]]), 2)
                entry["aspects"] = {a: _r(v) for a, v in aspects.items()}
                for a, v in aspects.items():
                    aspect_sum[a] = aspect_sum.get(a, 0.0) + v
            per_window.append(entry)
        z_threshold = float(index.meta.get("calibration", {}).get("z_threshold", Z_DEFAULT))
        out["style"] = {
            "windows": per_window,
            "mean_z": _r(z.mean()),
            "mean_excess": _r(np.maximum(0.0, z - z_threshold).mean()),
            "aspects": {a: _r(v / len(windows)) for a, v in aspect_sum.items()},
            "alignment": {
                "score": _r(al.score),
                "rec_offset_seconds": _r(al.offset_frames * ALIGN_FRAME_SECONDS, 2),
                "clip_transpose_semitones": int(
                    (-al.transpose) % 12 - (12 if (-al.transpose) % 12 > 6 else 0)
                ),
                "tempo_factor": _r(1.0 / al.tempo_step, 3),
            },
        }
    return out


def analyse_recording(samples: np.ndarray, *, recording_id: int, isrc: str, title: str, embedder):
    """Everything the index needs from one catalog recording (fingerprint over the full length,
    window descriptors, alignment chroma)."""
    from fingerprinting.index import RecordingAnalysis

    hashes, times = landmarks.hashes(samples)
    return RecordingAnalysis(
        recording_id=recording_id,
        isrc=isrc,
        title=title,
        duration=len(samples) / ANALYSIS_SR,
        fingerprint=verbatim.fingerprint(samples),
        segments=embedder.describe(samples),
        landmark_hashes=hashes,
        landmark_times=times,
    )
