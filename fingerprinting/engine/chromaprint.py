"""Chromaprint lane: raw Chromaprint sub-fingerprints, an inverted index on their top bits, offset
votes, and runs judged against the agreement the two passages' own bit statistics predict.

A Chromaprint "item" is one 32-bit sub-fingerprint every 4096/3 samples at 11025 Hz (0.124 s); item i
summarises the audio from i * ITEM_SECONDS to i * ITEM_SECONDS + ITEM_SPAN_SECONDS (its classifiers
look at ~20 chroma frames). Clip and recording are fingerprinted the same way, so aligned item indices
give aligned times.

Why not a flat bit error rate threshold: on sustained, low-entropy passages (pads, drones, held
orchestral chords) most bits sit at one value for seconds, in the clip and in an unrelated recording
alike, so two unrelated passages agree on far more than half their bits. The null is therefore the
agreement expected from the passages' own bit frequencies: with p_b and q_b the fractions of ones of
bit b over the run in the clip and in the recording, independent passages disagree on bit b with
probability p_b (1 - q_b) + q_b (1 - p_b); `null_ber` is the mean over the 32 bits. A run's score is
its excess agreement (null_ber - ber) in units of its expected spread, sqrt(null_ber (1 - null_ber)
/ (32 n / smooth)) with n items and `smooth_items` items per independent observation (consecutive
items share most of their audio). A drone gives null_ber ~ ber: score ~ 0, whatever its BER. The
score's distribution over unrelated material is calibrated per index (engine.calibration), which turns
it into a false-alarm chance.
"""

import acoustid
import chromaprint
import numpy as np

from fingerprinting.engine.config import ChromaprintConfig
from fingerprinting.engine.runs import Run
from fingerprinting.engine.signal import ANALYSIS_SR, resample
from fingerprinting.engine.votes import best_alignments, lookup, offset_votes

ITEM_SECONDS = 4096 / 3 / ANALYSIS_SR
ITEM_SPAN_SECONDS = 19 * ITEM_SECONDS + 4096 / ANALYSIS_SR
LANE = "chromaprint"

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_BITS = np.arange(32, dtype=np.uint32)


def popcount32(values: np.ndarray) -> np.ndarray:
    as_bytes = values.astype("<u4", copy=False).view(np.uint8).reshape(-1, 4)
    return _POPCOUNT8[as_bytes].sum(axis=1, dtype=np.int32)


def bit_matrix(items: np.ndarray) -> np.ndarray:
    """[n, 32] float32 of each item's bits."""
    return ((items[:, None] >> _BITS[None, :]) & np.uint32(1)).astype(np.float32)


def fingerprint(samples: np.ndarray, sr: int = ANALYSIS_SR) -> np.ndarray:
    """The raw Chromaprint sub-fingerprints (uint32) over the full length (pyacoustid's default
    `maxlength` is 120 s; we pass the real length)."""
    if sr != ANALYSIS_SR:
        samples = resample(samples, sr, ANALYSIS_SR)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    seconds = len(samples) / ANALYSIS_SR
    encoded = acoustid.fingerprint(ANALYSIS_SR, 1, iter([pcm]), maxlength=int(seconds) + 2)
    raw, _algorithm = chromaprint.decode_fingerprint(encoded)
    return np.asarray(raw, dtype=np.int64).astype(np.uint32)


class ChromaprintIndex:
    """Inverted index over the catalog's sub-fingerprints. Arrays only, so it memory-maps from disk."""

    def __init__(self, *, keys, post_rec, post_pos, fp_concat, fp_offsets, key_bits: int):
        self.keys = keys  # sorted uint32 keys, one per posting
        self.post_rec = post_rec  # int32 recording position per posting
        self.post_pos = post_pos  # int32 item index per posting
        self.fp_concat = fp_concat  # uint32, all recordings' fingerprints end to end
        self.fp_offsets = fp_offsets  # int64 [n_recordings + 1]
        self.key_bits = key_bits

    @classmethod
    def build(cls, fingerprints: list[np.ndarray], *, key_bits: int) -> "ChromaprintIndex":
        lengths = np.array([len(fp) for fp in fingerprints], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        concat = np.concatenate(fingerprints).astype(np.uint32) if fingerprints else np.zeros(0, np.uint32)
        rec = np.repeat(np.arange(len(fingerprints), dtype=np.int32), lengths)
        pos = (np.arange(len(concat), dtype=np.int64) - np.repeat(offsets[:-1], lengths)).astype(np.int32)
        keys = (concat >> np.uint32(32 - key_bits)).astype(np.uint32)
        order = np.argsort(keys, kind="stable")
        return cls(
            keys=keys[order],
            post_rec=rec[order],
            post_pos=pos[order],
            fp_concat=concat,
            fp_offsets=offsets,
            key_bits=key_bits,
        )

    ARRAYS = ("keys", "post_rec", "post_pos", "fp_concat", "fp_offsets")

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"fp_{name}": getattr(self, name) for name in self.ARRAYS}

    @classmethod
    def from_arrays(cls, arrays, *, key_bits: int) -> "ChromaprintIndex":
        return cls(**{name: arrays[f"fp_{name}"] for name in cls.ARRAYS}, key_bits=key_bits)

    def recording_fp(self, rec: int) -> np.ndarray:
        return self.fp_concat[self.fp_offsets[rec] : self.fp_offsets[rec + 1]]

    def postings(self, query: np.ndarray, max_postings: int) -> tuple[np.ndarray, ...]:
        """(query index, recording, item index) of every posting of the query keys (`lookup`), and
        each query key's posting count (sharded indexes add them up before the `max_postings` test:
        fingerprinting.engine.shards)."""
        q, post, counts = lookup(self.keys, query, max_postings)
        return q, self.post_rec[post], self.post_pos[post], counts

    def candidates(
        self, clip_fp: np.ndarray, config: ChromaprintConfig, exclude: frozenset[int] = frozenset()
    ) -> list[tuple[int, int, int]]:
        """(recording, offset in items, pooled votes) alignments from the offset votes."""
        query = (clip_fp >> np.uint32(32 - self.key_bits)).astype(np.uint32)
        q, rec, pos, _counts = self.postings(query, config.max_postings)
        votes = offset_votes(q, rec, pos, exclude=exclude)
        return best_alignments(
            votes,
            min_votes=config.min_votes,
            max_recordings=config.candidates,
            per_recording=config.candidates,
            scan=config.candidates * 3,
        )


def runs_at(
    clip_fp: np.ndarray, rec_fp: np.ndarray, recording: int, offset: int, config: ChromaprintConfig
) -> list[Run]:
    """Runs where the clip, shifted by `offset` items, agrees with the recording beyond what the two
    passages' bit statistics predict (module docstring)."""
    i0, i1 = max(0, -offset), min(len(clip_fp), len(rec_fp) - offset)
    if i1 - i0 < config.min_run_items:
        return []
    clip_items, rec_items = clip_fp[i0:i1], rec_fp[i0 + offset : i1 + offset]
    errors = popcount32(clip_items ^ rec_items).astype(np.float64) / 32.0
    width = min(config.smooth_items, len(errors))
    smooth = np.convolve(errors, np.ones(width) / width, mode="same")
    good = smooth < config.extend_ber
    clip_bits, rec_bits = bit_matrix(clip_items), bit_matrix(rec_items)
    runs = []
    edges = np.diff(np.concatenate([[0], good.astype(np.int8), [0]]))
    for start, stop in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
        n = int(stop - start)
        if n < config.min_run_items:
            continue
        ber = float(errors[start:stop].mean())
        p, q = clip_bits[start:stop].mean(axis=0), rec_bits[start:stop].mean(axis=0)
        null_ber = float(np.mean(p * (1.0 - q) + q * (1.0 - p)))
        spread = np.sqrt(max(null_ber * (1.0 - null_ber), 1e-6) * config.smooth_items / (32.0 * n))
        score = (null_ber - ber) / spread
        a, b = i0 + start, i0 + stop  # clip items [a, b)
        runs.append(
            Run(
                lane=LANE,
                recording=recording,
                clip_start=a * ITEM_SECONDS,
                clip_end=(b - 1) * ITEM_SECONDS + ITEM_SPAN_SECONDS,
                rec_start=(a + offset) * ITEM_SECONDS,
                rec_end=(b - 1 + offset) * ITEM_SECONDS + ITEM_SPAN_SECONDS,
                score=float(score),
                strength=float(np.clip(1.0 - ber / max(null_ber, 1e-6), 0.0, 1.0)),
                detail={"ber": ber, "null_ber": null_ber, "items": n},
            )
        )
    return runs


def find_runs(
    index: ChromaprintIndex,
    clip_fp: np.ndarray,
    config: ChromaprintConfig,
    exclude: frozenset[int] = frozenset(),
) -> list[Run]:
    runs: list[Run] = []
    for recording, offset, _votes in index.candidates(clip_fp, config, exclude):
        runs.extend(runs_at(clip_fp, index.recording_fp(recording), recording, offset, config))
    return runs
