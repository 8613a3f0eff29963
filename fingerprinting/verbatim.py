"""Verbatim lane: Chromaprint sub-fingerprints, an inverted index on their top bits, offset-histogram
alignment and bit-error-rate runs.

A Chromaprint "item" is one 32-bit sub-fingerprint every 4096/3 samples at 11025 Hz (0.1238 s); item i
summarises the audio from i*ITEM_SECONDS to i*ITEM_SECONDS + ITEM_SPAN_SECONDS (its classifiers look at
~20 chroma frames). Clip and recording are fingerprinted the same way, so aligned item indices give
aligned times.

Speed and pitch changes defeat plain Chromaprint. The clip is therefore re-fingerprinted over a grid
of resampling factors (GRID_FACTORS): resampling by f undoes a speed change of f exactly (tempo and
pitch together); for tempo-only or pitch-only changes it restores one of the two, which is why those
cases lean on the style lane (see docs/attribution.md).
"""

from dataclasses import dataclass

import acoustid
import chromaprint
import numpy as np

from fingerprinting.audio import ANALYSIS_SR, resample

ITEM_SECONDS = 4096 / 3 / 11025
ITEM_SPAN_SECONDS = 19 * ITEM_SECONDS + 4096 / 11025
KEY_BITS = 20  # inverted-index key: the top bits of a sub-fingerprint
MAX_POSTINGS = 2000  # keys more common than this (silence, drones) carry no information
MIN_HITS = 4  # offset-histogram votes a candidate alignment needs
MAX_CANDIDATES = 24
BER_WINDOW = 16  # items (~2 s) over which the bit error rate is smoothed
BER_MAX = 0.33  # a run extends while its smoothed BER stays below this (unrelated audio: ~0.5)
RUN_BER_ACCEPT = 0.2  # ... and counts only if its mean BER is below this (look-alike music: 0.25-0.32)
MIN_RUN_ITEMS = 12  # ~1.5 s of items, ~3.8 s of audio with the classifier span
STEP = 0.005
GRID_FACTORS = (
    (1.0,)
    + tuple(round(1.0 + sign * STEP * k, 4) for k in range(1, 13) for sign in (1, -1))
    + tuple(round(2.0 ** (s / 12.0), 4) for s in (1, -1, 2, -2))
)
GRID_STOP_COVERAGE = 0.9  # stop trying factors once this much of the clip is explained
NEW_SECONDS = 3.0  # a run overlapping better ones of its recording must add this much (see select_runs)

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount32(values: np.ndarray) -> np.ndarray:
    as_bytes = values.astype("<u4", copy=False).view(np.uint8).reshape(-1, 4)
    return _POPCOUNT8[as_bytes].sum(axis=1, dtype=np.int32)


def fingerprint(samples: np.ndarray, sr: int = ANALYSIS_SR) -> np.ndarray:
    """The raw Chromaprint sub-fingerprints (uint32) over the full length (no 120 s cap)."""
    if sr != ANALYSIS_SR:
        samples = resample(samples, sr, ANALYSIS_SR)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    seconds = len(samples) / ANALYSIS_SR
    encoded = acoustid.fingerprint(ANALYSIS_SR, 1, iter([pcm]), maxlength=int(seconds) + 2)
    raw, _algorithm = chromaprint.decode_fingerprint(encoded)
    return np.asarray(raw, dtype=np.int64).astype(np.uint32)


@dataclass(frozen=True)
class Run:
    """A reused stretch: clip time range -> recording time range, with its bit error rate."""

    recording: int  # position in the index's recording table
    clip_start: float
    clip_end: float
    rec_start: float
    rec_end: float
    ber: float
    factor: float
    items: int
    method: str = "chromaprint"  # or "landmark" (then `items` counts matching peak pairs, ber is -1)
    # or "spectral" (`items` counts the recording's peaks present in the clip, ber is -1)
    kappa: float = -1.0  # spectral: fraction of the recording's peaks present beyond chance
    z: float = 0.0  # spectral: significance of kappa above the level of similar unrelated music
    tempo: float = 1.0  # spectral: the clip plays this many times faster than the recording
    semitones: float = 0.0  # spectral: ... and is transposed by this much

    @property
    def seconds(self) -> float:
        return self.clip_end - self.clip_start

    def as_evidence(self) -> dict:
        out = {
            "method": self.method,
            "clip_start": round(self.clip_start, 2),
            "clip_end": round(self.clip_end, 2),
            "rec_start": round(self.rec_start, 2),
            "rec_end": round(self.rec_end, 2),
        }
        if self.method == "chromaprint":
            out.update(ber=round(self.ber, 4), factor=self.factor)
        elif self.method == "spectral":
            out.update(
                peaks_present=self.items,
                kappa=round(self.kappa, 4),
                z=round(self.z, 2),
                tempo=self.tempo,
                semitones=self.semitones,
            )
        else:
            out.update(matches=self.items)
        return out


class VerbatimIndex:
    """Inverted index over the catalog's sub-fingerprints. Arrays only, so it memory-maps from disk."""

    def __init__(self, *, keys, post_rec, post_pos, fp_concat, fp_offsets):
        self.keys = keys  # sorted uint32 keys, one per posting
        self.post_rec = post_rec  # int32 recording position per posting
        self.post_pos = post_pos  # int32 item index per posting
        self.fp_concat = fp_concat  # uint32, all recordings' fingerprints end to end
        self.fp_offsets = fp_offsets  # int64 [n_recordings + 1]

    @classmethod
    def build(cls, fingerprints: list[np.ndarray]) -> "VerbatimIndex":
        lengths = np.array([len(fp) for fp in fingerprints], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        concat = np.concatenate(fingerprints).astype(np.uint32) if fingerprints else np.zeros(0, np.uint32)
        rec = np.repeat(np.arange(len(fingerprints), dtype=np.int32), lengths)
        pos = (np.arange(len(concat), dtype=np.int64) - np.repeat(offsets[:-1], lengths)).astype(np.int32)
        keys = (concat >> np.uint32(32 - KEY_BITS)).astype(np.uint32)
        order = np.argsort(keys, kind="stable")
        return cls(
            keys=keys[order], post_rec=rec[order], post_pos=pos[order], fp_concat=concat, fp_offsets=offsets
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "fp_keys": self.keys,
            "fp_post_rec": self.post_rec,
            "fp_post_pos": self.post_pos,
            "fp_concat": self.fp_concat,
            "fp_offsets": self.fp_offsets,
        }

    def recording_fp(self, rec: int) -> np.ndarray:
        return self.fp_concat[self.fp_offsets[rec] : self.fp_offsets[rec + 1]]

    def candidates(self, clip_fp: np.ndarray) -> list[tuple[int, int, int]]:
        """(votes, recording, offset) alignments from the offset histogram, most votes first."""
        if len(clip_fp) == 0 or len(self.keys) == 0:
            return []
        qkeys = (clip_fp >> np.uint32(32 - KEY_BITS)).astype(np.uint32)
        lo = np.searchsorted(self.keys, qkeys, side="left")
        hi = np.searchsorted(self.keys, qkeys, side="right")
        counts = hi - lo
        keep = (counts > 0) & (counts <= MAX_POSTINGS)
        if not keep.any():
            return []
        qpos = np.repeat(np.arange(len(clip_fp))[keep], counts[keep])
        starts = np.repeat(lo[keep], counts[keep])
        within = np.arange(len(starts)) - np.repeat(np.cumsum(counts[keep]) - counts[keep], counts[keep])
        post = starts + within
        rec = self.post_rec[post].astype(np.int64)
        offset = self.post_pos[post].astype(np.int64) - qpos
        codes = (rec << 32) | (offset + (1 << 31))
        uniq, votes = np.unique(codes, return_counts=True)
        # A tempo drift smears votes over neighbouring offsets: pool each offset with its neighbours.
        pooled = votes.copy()
        same_rec_next = (uniq[1:] >> 32) == (uniq[:-1] >> 32)
        adjacent = same_rec_next & (np.diff(uniq) == 1)
        pooled[:-1] += np.where(adjacent, votes[1:], 0)
        pooled[1:] += np.where(adjacent, votes[:-1], 0)
        good = np.nonzero(pooled >= MIN_HITS)[0]
        if len(good) == 0:
            return []
        order = good[np.lexsort((uniq[good], -pooled[good]))][: MAX_CANDIDATES * 3]
        out, seen = [], set()
        for i in order:
            r, off = int(uniq[i] >> 32), int(uniq[i] & 0xFFFFFFFF) - (1 << 31)
            if (r, off - 1) in seen or (r, off + 1) in seen:
                continue
            seen.add((r, off))
            out.append((int(pooled[i]), r, off))
            if len(out) >= MAX_CANDIDATES:
                break
        return out

    def runs_for(self, clip_fp: np.ndarray, rec: int, offset: int, factor: float) -> list[Run]:
        """Stretches where the clip, shifted by `offset` items, matches recording `rec` bit for bit-ish."""
        rec_fp = self.recording_fp(rec)
        i0 = max(0, -offset)
        i1 = min(len(clip_fp), len(rec_fp) - offset)
        if i1 - i0 < MIN_RUN_ITEMS:
            return []
        errors = popcount32(clip_fp[i0:i1] ^ rec_fp[i0 + offset : i1 + offset]).astype(np.float64) / 32.0
        width = min(BER_WINDOW, len(errors))
        smooth = np.convolve(errors, np.ones(width) / width, mode="same")
        good = smooth < BER_MAX
        runs = []
        edges = np.diff(np.concatenate([[0], good.astype(np.int8), [0]]))
        for start, stop in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
            if stop - start < MIN_RUN_ITEMS or errors[start:stop].mean() > RUN_BER_ACCEPT:
                continue
            a, b = i0 + start, i0 + stop  # clip items [a, b)
            runs.append(
                Run(
                    recording=rec,
                    clip_start=a * ITEM_SECONDS / factor,
                    clip_end=((b - 1) * ITEM_SECONDS + ITEM_SPAN_SECONDS) / factor,
                    rec_start=(a + offset) * ITEM_SECONDS,
                    rec_end=(b - 1 + offset) * ITEM_SECONDS + ITEM_SPAN_SECONDS,
                    ber=float(errors[start:stop].mean()),
                    factor=factor,
                    items=int(stop - start),
                )
            )
        return runs

    def match(self, clip_fp: np.ndarray, factor: float = 1.0) -> list[Run]:
        runs = []
        for _votes, rec, offset in self.candidates(clip_fp):
            runs.extend(self.runs_for(clip_fp, rec, offset, factor))
        return runs


def select_runs(runs: list[Run]) -> list[Run]:
    """Best runs first (lowest BER, then longest); drop a run that mostly repeats better ones of the
    same recording over the same clip time (repetitive music matches at several offsets): one that
    adds less than half its length, and less than NEW_SECONDS, to the time they cover. A longer run
    that a better, shorter one covers in part (a tempo-grid run around a Chromaprint run) stays."""
    chosen: list[Run] = []
    covered: dict[int, np.ndarray] = {}  # per recording, 0.1 s grid of the chosen runs' clip time

    def quality(r: Run):
        # Chromaprint runs first, then landmark runs, then spectrally verified ones.
        method_rank = {"chromaprint": 0, "landmark": 1}.get(r.method, 2)
        return (method_rank, round(r.ber, 6), -r.items, r.recording, r.clip_start, r.factor)

    for run in sorted(runs, key=quality):
        a, b = max(0, int(run.clip_start * 10)), max(0, int(np.ceil(run.clip_end * 10)))
        mask = covered.get(run.recording, np.zeros(0, bool))
        if len(mask) < b:
            mask = np.concatenate([mask, np.zeros(b - len(mask), bool)])
        new_seconds = float((~mask[a:b]).sum()) / 10
        if run.recording in covered and new_seconds < min(0.5 * run.seconds, NEW_SECONDS):
            continue
        mask[a:b] = True
        covered[run.recording] = mask
        chosen.append(run)
    return sorted(chosen, key=lambda r: (r.clip_start, r.recording))


def coverage(runs: list[Run], duration: float) -> float:
    if duration <= 0 or not runs:
        return 0.0
    grid = np.zeros(int(np.ceil(duration * 10)) + 1, dtype=bool)
    for run in runs:
        grid[int(run.clip_start * 10) : int(np.ceil(run.clip_end * 10))] = True
    return float(grid[: int(duration * 10)].mean()) if int(duration * 10) else 0.0


def match_with_grid(
    index: VerbatimIndex, samples: np.ndarray, prior_runs: list[Run] = ()
) -> tuple[list[Run], list[float]]:
    """Runs over the resampling grid; stops once the clip is explained (counting `prior_runs` from
    another matcher). Returns (selected runs including prior ones, factors tried)."""
    duration = len(samples) / ANALYSIS_SR
    all_runs: list[Run] = list(prior_runs)
    tried = []
    for factor in GRID_FACTORS:
        audio = samples if factor == 1.0 else resample(samples, ANALYSIS_SR, int(round(ANALYSIS_SR * factor)))
        tried.append(factor)
        all_runs.extend(index.match(fingerprint(audio), factor))
        if coverage(select_runs(all_runs), duration) >= GRID_STOP_COVERAGE:
            break
    return select_runs(all_runs), tried
