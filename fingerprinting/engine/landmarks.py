"""Landmark lane: spectral peak pairs (constellation hashing, Wang 2003), for what Chromaprint
misses: short excerpts and material mixed under other music. Chromaprint summarises the whole chroma
of a frame, so a second source changes every sub-fingerprint; a spectral peak of the quieter source
often survives the mix, and a few hundred surviving peak pairs at one time offset are enough.

Peaks (engine.signal) dominate an 11 x 15 neighbourhood; the catalog keeps the strongest 30 per
second, a clip 60 (a quieter source's peaks rank lower in a mix). Pairs: each peak with its `fanout`
nearest later peaks within `target_frames` frames and `max_df_bins` bins. Hash: f1 (9 bits) | df + 64
(8 bits) | dt (6 bits).

Score: a (recording, offset) alignment's pooled votes against the background of that recording's
votes spread over the offsets it was voted at (Poisson), as -log10 of the tail probability with a
Bonferroni factor for the offsets and recordings tried. The calibration (engine.calibration) turns
the score into a false-alarm chance per clip.

Two passes: the clip's strongest peaks first; then, if sources were found, the peaks those sources do
not explain (a quieter source under a louder one surfaces there).
"""

import numpy as np
from scipy.stats import poisson

from fingerprinting.engine.config import LandmarkConfig
from fingerprinting.engine.runs import Run
from fingerprinting.engine.signal import FRAME_SECONDS, spectral_peaks, strongest_per_second
from fingerprinting.engine.votes import Votes, best_alignments, lookup, offset_votes

LANE = "landmark"
# A prefilter, not the evidence threshold: alignments scoring below this (-log10 p) are not turned
# into runs at all, so the calibration and the evidence see only alignments worth a look.
MIN_SCORE = 3.0
MIN_LOG10_P = -300.0  # the smallest chance a score expresses (a finite number, storable as JSON)


def pair_hashes(t: np.ndarray, f: np.ndarray, config: LandmarkConfig) -> tuple[np.ndarray, np.ndarray]:
    """(hash uint32, anchor frame int32): each peak (sorted by frame then bin) with its `fanout`
    nearest later peaks."""
    out_h, out_t = [], []
    for shift in range(1, config.fanout * 6):
        if shift >= len(t):
            break
        dt = t[shift:] - t[:-shift]
        df = f[shift:] - f[:-shift]
        ok = (dt > 0) & (dt <= config.target_frames) & (np.abs(df) <= config.max_df_bins)
        out_h.append(
            (f[:-shift][ok].astype(np.uint32) << 14)
            | ((df[ok] + 64).astype(np.uint32) << 6)
            | dt[ok].astype(np.uint32)
        )
        out_t.append(t[:-shift][ok])
    if not out_h:
        return np.zeros(0, np.uint32), np.zeros(0, np.int32)
    h = np.concatenate(out_h)
    anchors = np.concatenate(out_t)
    # `fanout` pairs per anchor: the nearest later peaks (pairs come in order of shift).
    order = np.lexsort((np.repeat(np.arange(len(out_h)), [len(x) for x in out_h]), anchors))
    h, anchors = h[order], anchors[order]
    first = np.searchsorted(anchors, anchors, side="left")
    keep = (np.arange(len(h)) - first) < config.fanout
    return h[keep].astype(np.uint32), anchors[keep].astype(np.int32)


def catalog_hashes(log: np.ndarray, config: LandmarkConfig) -> tuple[np.ndarray, np.ndarray]:
    """A catalog recording's (hash, anchor frame) pairs from its log spectrogram."""
    peaks = spectral_peaks(log, (config.peak_frames, config.peak_bins))
    return pair_hashes(*strongest_per_second(*peaks, config.catalog_peaks_per_second), config)


def peaks_of_hashes(h: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The peaks (frame, bin) a recording's hashes were made of: anchors and targets."""
    f1 = (h >> np.uint32(14)).astype(np.int32)
    df = ((h >> np.uint32(6)) & np.uint32(0xFF)).astype(np.int32) - 64
    dt = (h & np.uint32(0x3F)).astype(np.int32)
    frames = np.concatenate([t, t + dt])
    bins = np.concatenate([f1, f1 + df])
    pairs = np.unique((frames.astype(np.int64) << 16) | bins.astype(np.int64))
    return (pairs >> 16).astype(np.int32), (pairs & 0xFFFF).astype(np.int32)


def without_explained(
    t: np.ndarray, f: np.ndarray, strength: np.ndarray, explained: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop clip peaks within 1 frame and 1 bin of a peak of an already identified source (given in
    clip frames): what remains holds the peaks of quieter sources underneath."""
    if not len(t) or not explained:
        return t, f, strength
    taken = explained_mask(explained, frames=int(t.max()) + 1, bins=int(f.max()) + 1, reach=(1, 1))
    keep = ~taken[t, f]
    return t[keep], f[keep], strength[keep]


def explained_mask(
    explained: list[tuple[np.ndarray, np.ndarray]], *, frames: int, bins: int, reach: tuple[int, int]
) -> np.ndarray:
    """bool [frames, bins]: within `reach` (frames, bins) of a peak of `explained` (clip frame, bin).
    A source's peaks span the whole recording; only those inside the clip's frames are marked (a
    grid the clip's size, not a set of the recording's every peak)."""
    mask = np.zeros((frames, bins), bool)
    rt, rf = reach
    for et, ef in explained:
        inside = (et >= -rt) & (et < frames + rt)
        et, ef = et[inside].astype(np.int64), ef[inside].astype(np.int64)
        for dt in range(-rt, rt + 1):
            for df in range(-rf, rf + 1):
                a, b = et + dt, ef + df
                ok = (a >= 0) & (a < frames) & (b >= 0) & (b < bins)
                mask[a[ok], b[ok]] = True
    return mask


class LandmarkIndex:
    """Postings sorted by hash (for lookups) and the same hashes in recording order (to recover a
    recording's peaks for the spectral lane and the second pass)."""

    ARRAYS = ("keys", "post_rec", "post_t", "post_repeats", "rec_h", "rec_t", "rec_offsets")

    def __init__(self, *, keys, post_rec, post_t, post_repeats, rec_h, rec_t, rec_offsets):
        self.keys = keys
        self.post_rec = post_rec
        self.post_t = post_t
        # How often the posting's hash occurs in its recording: a hash a loop repeats every bar
        # cannot pin an alignment down, so the landmark lane's votes leave such postings out.
        self.post_repeats = post_repeats
        self.rec_h = rec_h
        self.rec_t = rec_t
        self.rec_offsets = rec_offsets

    @classmethod
    def build(cls, per_recording: list[tuple[np.ndarray, np.ndarray]]) -> "LandmarkIndex":
        lengths = [len(h) for h, _t in per_recording]
        keys = (
            np.concatenate([h for h, _t in per_recording]).astype(np.uint32)
            if per_recording
            else np.zeros(0, np.uint32)
        )
        times = (
            np.concatenate([t for _h, t in per_recording]).astype(np.int32)
            if per_recording
            else np.zeros(0, np.int32)
        )
        rec = np.repeat(np.arange(len(per_recording), dtype=np.int32), lengths)
        order = np.argsort(keys, kind="stable")
        same = (keys[order].astype(np.uint64) << np.uint64(32)) | rec[order].astype(np.uint64)
        _codes, inverse, counts = np.unique(same, return_inverse=True, return_counts=True)
        return cls(
            keys=keys[order],
            post_rec=rec[order],
            post_t=times[order],
            post_repeats=np.minimum(counts[inverse], np.iinfo(np.uint16).max).astype(np.uint16),
            rec_h=keys,
            rec_t=times,
            rec_offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"lm_{name}": getattr(self, name) for name in self.ARRAYS}

    @classmethod
    def from_arrays(cls, arrays) -> "LandmarkIndex":
        return cls(**{name: arrays[f"lm_{name}"] for name in cls.ARRAYS})

    def recording_peaks(self, rec: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = int(self.rec_offsets[rec]), int(self.rec_offsets[rec + 1])
        return peaks_of_hashes(np.asarray(self.rec_h[a:b]), np.asarray(self.rec_t[a:b]))

    def votes(
        self,
        clip_hashes: np.ndarray,
        clip_times: np.ndarray,
        max_postings: int,
        exclude: frozenset[int] = frozenset(),
        max_repeats: int | None = None,
    ) -> Votes:
        """Offset votes of the clip's hashes; with `max_repeats`, only from postings whose hash occurs
        at most that often in its recording."""
        q, rec, t, repeats, _counts = self.postings(clip_hashes, max_postings)
        if max_repeats is not None:
            keep = repeats <= max_repeats
            q, rec, t = q[keep], rec[keep], t[keep]
        return offset_votes(clip_times[q], rec, t, exclude=exclude)

    def postings(self, hashes: np.ndarray, max_postings: int) -> tuple[np.ndarray, ...]:
        """(query index, recording, anchor frame, repeats) of every posting of the query hashes
        (`lookup`), and each query hash's posting count (sharded indexes add them up before the
        `max_postings` test: fingerprinting.engine.shards)."""
        q, post, counts = lookup(self.keys, hashes, max_postings)
        return q, self.post_rec[post], self.post_t[post], self.post_repeats[post], counts


def _alignment_scores(votes: Votes, candidates: list[tuple[int, int, int]]) -> list[float]:
    """-log10 of the chance that a recording's votes, spread over the offsets it was voted at, pile
    this many on one (pooled) offset by accident, times the offsets and recordings tried."""
    if not candidates:
        return []
    starts = np.r_[0, np.nonzero(np.diff(votes.recording))[0] + 1]
    recordings = votes.recording[starts]
    total = np.add.reduceat(votes.votes, starts)
    spread = np.maximum.reduceat(votes.offset, starts) - np.minimum.reduceat(votes.offset, starts) + 1
    where = {int(r): i for i, r in enumerate(recordings)}
    n_recordings = max(1, len(recordings))
    scores = []
    for rec, _offset, pooled in candidates:
        i = where[rec]
        span = max(int(spread[i]), 3 * 40)  # at least 3 x the pair span: short clips spread little
        expected = 3.0 * float(total[i]) / span  # a pooled offset collects three offsets' votes
        # logsf underflows to -inf for a clean copy's hundreds of votes; 1e-300 is certain enough.
        tail = max(float(poisson.logsf(pooled - 1, expected)) / np.log(10), MIN_LOG10_P)
        scores.append(-(tail + np.log10(span * n_recordings)))
    return scores


def _runs_of(
    recording: int, offset: int, times: np.ndarray, score: float, config: LandmarkConfig
) -> list[Run]:
    out = []
    breaks = np.nonzero(np.diff(times) > config.run_gap_seconds)[0]
    for segment in np.split(times, breaks + 1):
        if len(segment) == 0:
            continue
        start, end = float(segment[0]), float(segment[-1]) + config.target_frames * FRAME_SECONDS
        if len(segment) < config.min_run_matches or end - start < config.min_run_seconds:
            continue
        shift = offset * FRAME_SECONDS
        density = len(segment) / (end - start)
        out.append(
            Run(
                lane=LANE,
                recording=recording,
                clip_start=start,
                clip_end=end,
                rec_start=start + shift,
                rec_end=end + shift,
                score=score,
                # Matching anchors per second: 3 and more is a clean copy.
                strength=float(min(1.0, density / 3.0)),
                detail={"matches": int(len(segment))},
            )
        )
    return out


def match(
    index: LandmarkIndex,
    hashes: tuple[np.ndarray, np.ndarray],
    config: LandmarkConfig,
    exclude: frozenset[int] = frozenset(),
) -> list[Run]:
    """Runs of the best-voted alignments scoring at least MIN_SCORE."""
    clip_hashes, clip_times = hashes
    votes = index.votes(clip_hashes, clip_times, config.max_postings, exclude, config.max_repeats)
    needed = max(config.min_votes, int(config.min_vote_fraction * len(clip_hashes)))
    candidates = best_alignments(
        votes,
        min_votes=needed,
        max_recordings=config.candidates,
        per_recording=config.candidates * 3,
        scan=config.candidates * 3,
    )
    runs: list[Run] = []
    for (recording, offset, _pooled), score in zip(
        candidates, _alignment_scores(votes, candidates), strict=True
    ):
        if score < MIN_SCORE:
            continue
        times = np.unique(votes.votes_at(recording, offset)) * FRAME_SECONDS
        runs.extend(_runs_of(recording, offset, times, score, config))
    return runs


def find_runs(
    index: LandmarkIndex,
    peaks: tuple[np.ndarray, np.ndarray, np.ndarray],
    config: LandmarkConfig,
    exclude: frozenset[int] = frozenset(),
    peaks_of=None,
) -> list[Run]:
    """Landmark runs in two passes (module docstring). `peaks` are the clip's (frame, bin, strength)
    in the landmark neighbourhood; `peaks_of(recording)` gives a recording's catalog peaks (a cache,
    such as the catalog's `RecordingPeaks`; by default recovered from the index each time)."""
    peaks_of = peaks_of or index.recording_peaks
    t, f, strength = peaks
    found = match(
        index,
        pair_hashes(*strongest_per_second(t, f, strength, config.query_peaks_per_second), config),
        config,
        exclude,
    )
    if not found:
        return found
    best: dict[int, Run] = {}
    for run in found:
        if run.recording not in best or run.detail["matches"] > best[run.recording].detail["matches"]:
            best[run.recording] = run
    explained = []
    for rec, run in sorted(best.items()):
        offset = int(round((run.rec_start - run.clip_start) / FRAME_SECONDS))
        rt, rf = peaks_of(rec)
        explained.append((rt - offset, rf))
    rest = without_explained(t, f, strength, explained)
    second = match(
        index,
        pair_hashes(*strongest_per_second(*rest, config.query_peaks_per_second), config),
        config,
        exclude | frozenset(best),
    )
    return found + second
