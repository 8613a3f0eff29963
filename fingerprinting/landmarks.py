"""Landmark lane: spectral peak pairs (constellation hashing), our own, for what Chromaprint misses:
short excerpts and material mixed under other music. Chromaprint summarises the whole chroma of a
frame, so a second source changes every sub-fingerprint; a spectral peak of the quieter source often
survives the mix, and a few hundred surviving peak pairs at a consistent time offset are enough.

Peaks: local maxima of the log spectrogram (11025 Hz, 1024-point FFT, 256 hop: 23 ms x 10.8 Hz),
the strongest PEAKS_PER_SECOND per second. Pairs: each peak with its FANOUT nearest later peaks within
TARGET_FRAMES frames and MAX_DF bins. Hash: f1 (9 bits) | df (8 bits) | dt (6 bits).
"""

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter
from scipy.stats import poisson

from fingerprinting.audio import ANALYSIS_SR

N_FFT = 1024
HOP = 256
FRAME_SECONDS = HOP / ANALYSIS_SR
LOW_BIN = 24  # 258 Hz
PEAK_TIME = 11  # neighbourhood (frames) a peak must dominate
PEAK_FREQ = 15  # neighbourhood (bins)
PEAKS_PER_SECOND = 30
QUERY_PEAKS_PER_SECOND = 60
# The neighbourhood clips pick peaks in. Smaller ones (5 x 7, 7 x 9) were tried on the benchmark's
# development seed for sources mixed under other music: no clear gain, more noise.
QUERY_NEIGHBOURHOOD = (PEAK_TIME, PEAK_FREQ)
FANOUT = 4
TARGET_FRAMES = 40
MAX_DF = 63
MAX_POSTINGS = 400
MIN_MATCHES = 7  # hashes agreeing on one offset (bench --seed 1: 10 -> 7 trades 1 false candidate in 50 negatives for +10 % recall under other music)
MIN_MATCH_FRACTION = 0.008  # ... and at least this fraction of the clip's hashes
RUN_GAP_SECONDS = 3.0
MIN_RUN_MATCHES = 7
MIN_RUN_SECONDS = 2.0
MAX_CANDIDATES = 16
CANDIDATE_SCAN = 4000  # alignments `LandmarkIndex.candidates` looks at, best-voted first
MIN_SIGNIFICANCE = (
    10.0  # -log10 p; false alignments of look-alike music reach ~9, true ones >= 12 (bench --seed 1)
)


def log_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Log magnitude [frames, bins LOW_BIN..511] (float32); column j is FFT bin LOW_BIN + j."""
    if len(samples) < N_FFT:
        return np.zeros((0, 512 - LOW_BIN), np.float32)
    n = 1 + (len(samples) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(samples[idx].astype(np.float32) * np.hanning(N_FFT).astype(np.float32), axis=1))
    # Bins from LOW_BIN (~250 Hz) to 511 (9 bits): below that sit kick and snare-body peaks, which a
    # drum machine repeats identically in unrelated pieces at the same tempo.
    return np.log(spec[:, LOW_BIN:512] + 1e-6).astype(np.float32)


def spectral_peaks(
    samples: np.ndarray, neighbourhood: tuple[int, int] = (PEAK_TIME, PEAK_FREQ)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every local maximum of the log spectrogram above the floor: (frame, bin, strength)."""
    return peaks_of_spectrogram(log_spectrogram(samples), neighbourhood)


def peaks_of_spectrogram(
    log: np.ndarray, neighbourhood: tuple[int, int] = (PEAK_TIME, PEAK_FREQ)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`spectral_peaks` of an already computed `log_spectrogram`."""
    if len(log) == 0:
        empty = np.zeros(0, np.int32)
        return empty, empty, np.zeros(0, np.float32)
    local = maximum_filter(log, size=neighbourhood, mode="constant", cval=-np.inf)
    floor = np.median(log) + 1.0
    t, f = np.nonzero((log == local) & (log > floor))
    strength = log[t, f].astype(np.float32)
    return t.astype(np.int32), (f + LOW_BIN).astype(np.int32), strength


def select(
    t: np.ndarray, f: np.ndarray, strength: np.ndarray, per_second: int
) -> tuple[np.ndarray, np.ndarray]:
    """The strongest `per_second` peaks of every second, sorted by frame then bin."""
    if len(t) == 0:
        return t, f
    frames_per_block = int(round(1.0 / FRAME_SECONDS))
    block = t // frames_per_block
    order = np.lexsort((f, -strength, block))
    t, f, block = t[order], f[order], block[order]
    first = np.searchsorted(block, block, side="left")
    keep = (np.arange(len(t)) - first) < per_second
    t, f = t[keep], f[keep]
    order = np.lexsort((f, t))
    return t[order].astype(np.int32), f[order].astype(np.int32)


def peaks(samples: np.ndarray, per_second: int = PEAKS_PER_SECOND) -> tuple[np.ndarray, np.ndarray]:
    """(frame, bin) of the strongest spectral peaks, sorted by frame then bin."""
    return select(*spectral_peaks(samples), per_second)


def pair_hashes(t: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hash uint32, anchor frame int32): each peak with its FANOUT nearest later peaks."""
    out_h, out_t = [], []
    for shift in range(1, FANOUT * 6):
        if shift >= len(t):
            break
        dt = t[shift:] - t[:-shift]
        df = f[shift:] - f[:-shift]
        ok = (dt > 0) & (dt <= TARGET_FRAMES) & (np.abs(df) <= MAX_DF)
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
    # FANOUT pairs per anchor: the nearest later peaks (pairs come in order of shift).
    order = np.lexsort((np.repeat(np.arange(len(out_h)), [len(x) for x in out_h]), anchors))
    h, anchors = h[order], anchors[order]
    first = np.searchsorted(anchors, anchors, side="left")
    keep = (np.arange(len(h)) - first) < FANOUT
    return h[keep].astype(np.uint32), anchors[keep].astype(np.int32)


def hashes(samples: np.ndarray, per_second: int = PEAKS_PER_SECOND) -> tuple[np.ndarray, np.ndarray]:
    """(hash uint32, anchor frame int32) pairs. Clips are hashed denser than the catalog
    (QUERY_PEAKS_PER_SECOND): in a mix, a quieter source's peaks rank lower than they did in its
    recording, and a denser query still contains them."""
    return pair_hashes(*peaks(samples, per_second))


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
    codes = []
    for et, ef in explained:
        for dt in (-1, 0, 1):
            for df in (-1, 0, 1):
                codes.append(((et + dt).astype(np.int64) << 16) | (ef + df).astype(np.int64))
    taken = np.unique(np.concatenate(codes))
    mine = (t.astype(np.int64) << 16) | f.astype(np.int64)
    keep = ~np.isin(mine, taken)
    return t[keep], f[keep], strength[keep]


@dataclass(frozen=True)
class LandmarkRun:
    recording: int
    clip_start: float
    clip_end: float
    rec_start: float
    rec_end: float
    matches: int
    density: float  # matching hashes per second of the run
    significance: float  # -log10 of the chance of this many votes at one offset by accident


class LandmarkIndex:
    def __init__(self, *, keys, post_rec, post_t, rec_h=None, rec_t=None, rec_offsets=None):
        self.keys = keys
        self.post_rec = post_rec
        self.post_t = post_t
        # The same hashes in recording order, to recover a recording's peaks (second pass).
        self.rec_h = rec_h
        self.rec_t = rec_t
        self.rec_offsets = rec_offsets

    def recording_peaks(self, rec: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = int(self.rec_offsets[rec]), int(self.rec_offsets[rec + 1])
        return peaks_of_hashes(np.asarray(self.rec_h[a:b]), np.asarray(self.rec_t[a:b]))

    @classmethod
    def build(cls, per_recording: list[tuple[np.ndarray, np.ndarray]]) -> "LandmarkIndex":
        if not per_recording:
            empty = np.zeros(0, np.int32)
            return cls(
                keys=np.zeros(0, np.uint32),
                post_rec=empty,
                post_t=empty,
                rec_h=np.zeros(0, np.uint32),
                rec_t=empty,
                rec_offsets=np.zeros(1, np.int64),
            )
        keys = np.concatenate([h for h, _t in per_recording]).astype(np.uint32)
        rec = np.concatenate([np.full(len(h), i, np.int32) for i, (h, _t) in enumerate(per_recording)])
        times = np.concatenate([t for _h, t in per_recording]).astype(np.int32)
        order = np.argsort(keys, kind="stable")
        offsets = np.concatenate([[0], np.cumsum([len(h) for h, _t in per_recording])]).astype(np.int64)
        return cls(
            keys=keys[order],
            post_rec=rec[order],
            post_t=times[order],
            rec_h=keys,
            rec_t=times,
            rec_offsets=offsets,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "lm_keys": self.keys,
            "lm_post_rec": self.post_rec,
            "lm_post_t": self.post_t,
            "lm_rec_h": self.rec_h,
            "lm_rec_t": self.rec_t,
            "lm_rec_offsets": self.rec_offsets,
        }

    def _votes(self, clip_hashes: np.ndarray, clip_times: np.ndarray):
        """Every (recording, offset) the clip's hashes vote for: (per posting hit: clip frame,
        recording, offset; per distinct (recording, offset) code: code, votes, votes pooled with the
        neighbouring offsets), or None when nothing matches."""
        if len(clip_hashes) == 0 or len(self.keys) == 0:
            return None
        lo = np.searchsorted(self.keys, clip_hashes, side="left")
        hi = np.searchsorted(self.keys, clip_hashes, side="right")
        counts = hi - lo
        keep = (counts > 0) & (counts <= MAX_POSTINGS)
        if not keep.any():
            return None
        reps = counts[keep]
        qt = np.repeat(clip_times[keep], reps).astype(np.int64)
        starts = np.repeat(lo[keep], reps)
        post = starts + np.arange(len(starts)) - np.repeat(np.cumsum(reps) - reps, reps)
        rec = self.post_rec[post].astype(np.int64)
        offset = self.post_t[post].astype(np.int64) - qt
        codes = (rec << 32) | (offset + (1 << 31))
        uniq, votes = np.unique(codes, return_counts=True)
        pooled = votes.copy()
        adjacent = ((uniq[1:] >> 32) == (uniq[:-1] >> 32)) & (np.diff(uniq) == 1)
        pooled[:-1] += np.where(adjacent, votes[1:], 0)
        pooled[1:] += np.where(adjacent, votes[:-1], 0)
        return qt, rec, offset, uniq, votes, pooled

    def candidates(
        self,
        clip_hashes: np.ndarray,
        clip_times: np.ndarray,
        *,
        recordings: int,
        per_recording: int,
        min_votes: int,
    ) -> list[tuple[int, int, int]]:
        """(recording, offset in frames, pooled votes) of the best-voted alignments, without any
        significance test, for a verifier to check: alignments in order of votes until `recordings`
        recordings are in, at most `per_recording` offsets each (repetitive music votes for every
        repeat of a bar), at most CANDIDATE_SCAN alignments looked at."""
        voted = self._votes(clip_hashes, clip_times)
        if voted is None:
            return []
        _qt, _rec, _offset, uniq, _votes, pooled = voted
        good = np.nonzero(pooled >= min_votes)[0]
        order = good[np.lexsort((uniq[good], -pooled[good]))][:CANDIDATE_SCAN]
        out: list[tuple[int, int, int]] = []
        taken: set[tuple[int, int]] = set()
        per: dict[int, int] = {}
        for i in order:
            r, off = int(uniq[i] >> 32), int(uniq[i] & 0xFFFFFFFF) - (1 << 31)
            if per.get(r, 0) >= per_recording or any((r, off + d) in taken for d in (-1, 0, 1)):
                continue
            taken.add((r, off))
            per[r] = per.get(r, 0) + 1
            out.append((r, off, int(pooled[i])))
            if len(per) >= recordings:
                break
        return out

    def match(self, clip_hashes: np.ndarray, clip_times: np.ndarray) -> list[LandmarkRun]:
        voted = self._votes(clip_hashes, clip_times)
        if voted is None:
            return []
        qt, rec, offset, uniq, votes, pooled = voted
        needed = max(MIN_MATCHES, int(MIN_MATCH_FRACTION * len(clip_hashes)))
        good = np.nonzero(pooled >= needed)[0]
        if len(good) == 0:
            return []
        # Background: a recording's votes spread over the offsets it was voted at; the chance that
        # one (pooled) offset gets `pooled` of them by accident, times the number of offsets and
        # recordings tried (Bonferroni).
        recs_of = (uniq >> 32).astype(np.int64)
        offs_of = (uniq & 0xFFFFFFFF).astype(np.int64)
        total_votes = np.bincount(recs_of, weights=votes)
        spread = np.maximum.reduceat(
            offs_of, np.r_[0, np.nonzero(np.diff(recs_of))[0] + 1]
        ) - np.minimum.reduceat(offs_of, np.r_[0, np.nonzero(np.diff(recs_of))[0] + 1])
        spread_of = dict(zip(np.unique(recs_of).tolist(), (spread + 1).tolist(), strict=True))
        n_recordings = max(1, len(spread_of))
        order = good[np.lexsort((uniq[good], -pooled[good]))]
        runs: list[LandmarkRun] = []
        taken: set[tuple[int, int]] = set()
        for i in order[: MAX_CANDIDATES * 3]:
            r, off = int(uniq[i] >> 32), int(uniq[i] & 0xFFFFFFFF) - (1 << 31)
            if any((r, off + d) in taken for d in (-1, 0, 1)):
                continue
            taken.add((r, off))
            span = max(spread_of[r], 3 * TARGET_FRAMES)
            expected = 3.0 * total_votes[r] / span
            tail = float(poisson.logsf(int(pooled[i]) - 1, expected)) / np.log(10)
            significance = -(tail + np.log10(span * n_recordings))
            if significance < MIN_SIGNIFICANCE:
                continue
            hit = (rec == r) & (np.abs(offset - off) <= 1)
            times = np.unique(qt[hit]) * FRAME_SECONDS
            runs.extend(_runs(r, off, times, significance))
            if len({run.recording for run in runs}) >= MAX_CANDIDATES:
                break
        return runs


def _runs(rec: int, offset: int, times: np.ndarray, significance: float) -> list[LandmarkRun]:
    if len(times) == 0:
        return []
    out = []
    breaks = np.nonzero(np.diff(times) > RUN_GAP_SECONDS)[0]
    for segment in np.split(times, breaks + 1):
        start, end = float(segment[0]), float(segment[-1]) + TARGET_FRAMES * FRAME_SECONDS
        if len(segment) < MIN_RUN_MATCHES or end - start < MIN_RUN_SECONDS:
            continue
        shift = offset * FRAME_SECONDS
        out.append(
            LandmarkRun(
                recording=rec,
                clip_start=start,
                clip_end=end,
                rec_start=start + shift,
                rec_end=end + shift,
                matches=int(len(segment)),
                density=float(len(segment) / (end - start)),
                significance=significance,
            )
        )
    return out
