"""Spectral lane: candidate alignments checked against the clip's spectrogram, for a recording mixed
under louder music (a -6 dB mix partner, a recording under an unknown piece) and, over a grid of
transforms, for tempo and pitch edits.

The landmark lane needs the quieter source's peaks to stay the strongest in their 11 x 15
neighbourhood and to pair up as in the catalog; under a louder source few do. But the quieter source
still adds energy at its own peak bins, so most of them remain small local maxima (5 x 7) of the mix.
Two stages:

1. Candidates: the best-voted (recording, offset) alignments of a denser set of clip peaks, without
   any significance test.
2. Verification: the recording's catalog peaks, shifted by the offset, are looked up in the clip's
   presence map (small local maxima above the local mean level, tolerance 1 frame and 1 bin). A peak
   can hit by chance where the clip is dense in local maxima, at that frame and bin (independence
   model: frame density x bin density / overall density). Per peak, hit in {0, 1} and chance p. The
   excess over chance, kappa = (hits - sum p) / (n - sum p), is the fraction of the recording's peaks
   the clip shows beyond chance. Each peak is weighted by 1 / (the recording's peaks in its frame), so
   a broadband onset (a drum hit) counts as one event, not as the dozens of peaks it spans. Runs are
   stretches where kappa over a sliding window stays above `run_kappa` (joined across short dips), and
   count only if at least `min_kappa` of the recording's peaks are there beyond chance over the whole
   run: reused audio brings its own signal, most of its peaks (0.35 and up even 6 dB under other
   music), while unrelated music in the same key and tempo shares a fraction of note events (0.15-0.25).
   Without a transform, a run from `weak_kappa` up to `min_kappa` is kept as *weak*: a source deep
   under louder music that is not in the catalog shows no more (0.22-0.26), and neither does material
   a recording shares with another one found in full, so a weak run is cut where a full-strength run
   of a recording sharing its material lies (explain.weak_where_unexplained); the calibration measures
   weak runs like any other.
   A run's score is how far its weighted hits exceed chance, z = sum w (hit - p) / sqrt(sum w^2 p (1 - p)). Unrelated music in the same key and tempo shares some
   peak positions, so z is not compared with a normal table: the calibration (engine.calibration)
   measures how high it gets on unrelated catalog music and turns it into a false-alarm chance.

Transforms: transposed by k semitones, catalog peak (t, f) sits at clip (t - offset, f * 2^(k/12));
played r times faster, at clip frame (t - offset) / r in the same bin. For a transform the clip's
peaks are mapped back to catalog coordinates before hashing (rounding breaks some hashes; the loose
vote threshold tolerates that), and each candidate's catalog peaks are mapped forward into the clip's
presence map.
"""

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter

from fingerprinting.engine.config import LandmarkConfig, SpectralConfig
from fingerprinting.engine.landmarks import LandmarkIndex, explained_mask, pair_hashes
from fingerprinting.engine.runs import IDENTITY, Run, Transform
from fingerprinting.engine.signal import FRAME_SECONDS, LOW_BIN, sliding_maximum, strongest_per_second
from fingerprinting.engine.votes import best_alignments, offset_votes

LANE = "spectral"
# A prefilter, not the evidence threshold: runs scoring below this are dropped before calibration
# sees them (a z of 3 is reached by chance in most clips; nothing weaker is worth keeping).
MIN_SCORE = 3.0


@dataclass(frozen=True)
class PresenceMap:
    """Where the clip has a small spectral local maximum (within the tolerance), and how dense such
    maxima are per frame and per bin (the chance of a hit)."""

    present: np.ndarray  # bool [frames, bins]; column j is FFT bin LOW_BIN + j
    frame_density: np.ndarray
    bin_density: np.ndarray
    density: float

    @classmethod
    def of(cls, log: np.ndarray, config: SpectralConfig) -> "PresenceMap":
        if len(log) == 0:
            return cls(np.zeros(log.shape, bool), np.zeros(0), np.zeros(log.shape[1]), 0.0)
        background = uniform_filter(log, size=(1, config.background_bins), mode="nearest")
        local = sliding_maximum(log, (config.local_max_frames, config.local_max_bins))
        maxima = (log == local) & (log > background)
        present = sliding_maximum(maxima, (config.tolerance_frames, config.tolerance_bins), fill=False)
        return cls.of_present(present)

    @classmethod
    def of_present(cls, present: np.ndarray) -> "PresenceMap":
        """The map of `present` (bool [frames, bins]) with its densities counted."""
        return cls(
            present=present,
            frame_density=present.mean(axis=1, dtype=np.float64),
            bin_density=present.mean(axis=0, dtype=np.float64),
            density=float(present.mean(dtype=np.float64)),
        )

    @classmethod
    def of_peaks(
        cls, peaks: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int], config: SpectralConfig
    ) -> "PresenceMap":
        """A map of where recordings' peaks (clip frame, FFT bin) fall, within the tolerance: to ask
        whether another recording's peaks are these, as `verify` asks it of the clip's, or to clear
        them from the clip's map (`without`)."""
        frames, bins = shape
        present = explained_mask(
            [(t, f - LOW_BIN) for t, f in peaks],
            frames=frames,
            bins=bins,
            reach=(config.tolerance_frames // 2, config.tolerance_bins // 2),
        )
        return cls.of_present(present)

    @property
    def frames(self) -> int:
        return int(self.present.shape[0])

    def without(
        self, explained: list[tuple[np.ndarray, np.ndarray]], config: SpectralConfig
    ) -> "PresenceMap":
        """The map with the neighbourhood of known sources' peaks (clip frame, FFT bin) cleared, and its
        densities counted again: what is left belongs to the other sources in the clip."""
        taken = PresenceMap.of_peaks(explained, self.present.shape, config).present
        present = self.present & ~taken
        return PresenceMap.of_present(present)


def mapped_peaks(
    peak_frames: np.ndarray, peak_bins: np.ndarray, offset: int, transform: Transform = IDENTITY
) -> tuple[np.ndarray, np.ndarray]:
    """A recording's peaks where they fall in the clip (clip frame, FFT bin) at this alignment: shifted
    by `offset` frames, then played `tempo` times faster and transposed."""
    t = peak_frames.astype(np.int64) - offset
    f = peak_bins.astype(np.int64)
    if transform.tempo != 1.0:
        t = np.round(t / transform.tempo).astype(np.int64)
    if transform.semitones:
        f = np.round(f * 2.0 ** (transform.semitones / 12.0)).astype(np.int64)
    return t, f


def _hits(
    presence: PresenceMap, peak_frames, peak_bins, offset: int, transform: Transform
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(clip frame, hit, chance, weight) of each of the recording's peaks inside the clip."""
    t, f = mapped_peaks(peak_frames, peak_bins, offset, transform)
    f = f - LOW_BIN
    inside = (t >= 0) & (t < presence.frames) & (f >= 0) & (f < presence.present.shape[1])
    t, f = t[inside], f[inside]
    hit = presence.present[t, f].astype(np.float64)
    chance = np.clip(presence.frame_density[t] * presence.bin_density[f] / presence.density, 0.0, 1.0)
    # One frame, one vote: a broadband onset (a drum hit, a click) makes dozens of peaks in one frame,
    # all present in any clip with an onset there; weighted 1 / (the recording's peaks in that frame),
    # a shared rhythm counts as the few events it is, not as the hundreds of peaks it spans.
    weight = 1.0 / np.bincount(t, minlength=presence.frames)[t] if len(t) else np.zeros(0)
    return t, hit, chance, weight


def _statistic(hit: np.ndarray, chance: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """(z, kappa) of weighted hits against their chances (the module docstring)."""
    hits, expected, total = float((weight * hit).sum()), float((weight * chance).sum()), float(weight.sum())
    z = (hits - expected) / np.sqrt(max(float((weight * weight * chance * (1.0 - chance)).sum()), 1e-9))
    return float(z), float((hits - expected) / max(total - expected, 1e-9))


def span_evidence(
    presence: PresenceMap,
    peak_frames: np.ndarray,
    peak_bins: np.ndarray,
    offset: int,
    frames: tuple[int, int],
    config: SpectralConfig,
    transform: Transform = IDENTITY,
) -> tuple[float, float] | None:
    """(z, kappa) of the recording's peaks at this alignment over clip frames [a, b), as `verify`
    scores a run; None where fewer than `min_window_peaks` of them fall there."""
    if presence.frames == 0 or presence.density <= 0:
        return None
    t, hit, chance, weight = _hits(presence, peak_frames, peak_bins, offset, transform)
    mine = (t >= frames[0]) & (t < frames[1])
    if int(mine.sum()) < config.min_window_peaks:
        return None
    return _statistic(hit[mine], chance[mine], weight[mine])


def verify(
    presence: PresenceMap,
    recording: int,
    peak_frames: np.ndarray,
    peak_bins: np.ndarray,
    offset: int,
    config: SpectralConfig,
    transform: Transform = IDENTITY,
) -> list[Run]:
    """The runs where the recording's peaks, shifted by `offset` frames (then transformed), are
    present in the clip, scoring at least MIN_SCORE."""
    n_frames = presence.frames
    if n_frames == 0 or presence.density <= 0:
        return []
    t, hit, chance, weight = _hits(presence, peak_frames, peak_bins, offset, transform)
    if len(t) < config.min_window_peaks:
        return []
    half = int(round(config.smooth_seconds / FRAME_SECONDS)) // 2
    frames = np.arange(n_frames)
    lo, hi = np.clip(frames - half, 0, n_frames), np.clip(frames + half + 1, 0, n_frames)

    def window_sums(values: np.ndarray) -> np.ndarray:
        cumulative = np.concatenate([[0.0], np.cumsum(np.bincount(t, weights=values, minlength=n_frames))])
        return cumulative[hi] - cumulative[lo]

    hits_w, chance_w, count_w = window_sums(weight * hit), window_sums(weight * chance), window_sums(weight)
    peaks_w = window_sums(np.ones(len(t)))
    kappa_w = np.where(
        peaks_w >= config.min_window_peaks,
        (hits_w - chance_w) / np.maximum(count_w - chance_w, 1e-9),
        -1.0,
    )
    # Weak runs only without a transform: they are there for a source under louder music; the grid
    # looks for a transformed copy, which shows in full, and tries 16 transforms on each candidate,
    # 16 times the chances for a weak coincidence.
    least_kappa = config.weak_kappa if transform.is_identity else config.min_kappa
    runs = []
    for a, b in _segments(kappa_w >= config.run_kappa, config):
        mine = (t >= a) & (t < b)
        n, h = int(mine.sum()), hit[mine]
        z, kappa = _statistic(h, chance[mine], weight[mine])
        if z < MIN_SCORE or kappa < least_kappa:
            continue
        start, end = a * FRAME_SECONDS, b * FRAME_SECONDS
        shift = offset * FRAME_SECONDS
        runs.append(
            Run(
                lane=LANE,
                recording=recording,
                clip_start=float(start),
                clip_end=float(end),
                rec_start=float(start * transform.tempo + shift),
                rec_end=float(end * transform.tempo + shift),
                score=float(z),
                strength=float(np.clip(kappa, 0.0, 1.0)),
                transform=transform,
                detail={
                    "peaks": n,
                    "peaks_present": int(h.sum()),
                    "kappa": kappa,
                    "z": float(z),
                    "weak": bool(kappa < config.min_kappa),
                },
            )
        )
    return runs


def is_weak(run: Run) -> bool:
    """A run whose recording shows fewer of its peaks than reused audio in full does (`weak_kappa` up
    to `min_kappa`): cut where a recording sharing its material is found in full
    (explain.weak_where_unexplained)."""
    return bool(run.detail.get("weak", False))


def _segments(good: np.ndarray, config: SpectralConfig) -> list[tuple[int, int]]:
    """[a, b) frame stretches where `good` holds, joined across gaps shorter than `merge_gap_seconds`
    (a source under louder music dips below the window threshold now and then), at least
    `min_run_seconds` long."""
    edges = np.diff(np.concatenate([[0], good.astype(np.int8), [0]]))
    spans: list[list[int]] = []
    gap = int(round(config.merge_gap_seconds / FRAME_SECONDS))
    for a, b in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
        if spans and a - spans[-1][1] <= gap:
            spans[-1][1] = int(b)
        else:
            spans.append([int(a), int(b)])
    shortest = config.min_run_seconds / FRAME_SECONDS
    return [(a, b) for a, b in spans if b - a >= shortest]


def to_catalog_coordinates(
    t: np.ndarray, f: np.ndarray, transform: Transform
) -> tuple[np.ndarray, np.ndarray]:
    """Clip peaks (sorted by frame then bin) where they sit in a recording the clip is `transform` of:
    frames times tempo, bins divided by the pitch ratio; sorted again, without duplicates."""
    if transform.is_identity:
        return t, f
    ct = np.round(t * transform.tempo).astype(np.int64)
    cf = np.round(f / 2.0 ** (transform.semitones / 12.0)).astype(np.int64)
    codes = np.unique((ct << 16) | cf)
    return (codes >> 16).astype(np.int32), (codes & 0xFFFF).astype(np.int32)


class RecordingPeaks:
    """Catalog peaks per recording, recovered from the landmark index once per process and kept."""

    def __init__(self, index: LandmarkIndex):
        self.index = index
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, recording: int) -> tuple[np.ndarray, np.ndarray]:
        peaks = self._cache.get(recording)
        if peaks is None:
            peaks = self.index.recording_peaks(recording)
            if len(self._cache) < 20_000:
                self._cache[recording] = peaks
        return peaks


def candidate_alignments(
    index: LandmarkIndex,
    clip_peaks: tuple[np.ndarray, np.ndarray],
    *,
    transform: Transform,
    recordings: int,
    landmark: LandmarkConfig,
    config: SpectralConfig,
    exclude: frozenset[int] = frozenset(),
    only: frozenset[int] | None = None,
) -> list[tuple[int, int, int]]:
    """(recording, offset, votes) of the best-voted alignments of the clip's peaks under `transform`
    (only among `only` recordings when given), without any significance test: what `verified_runs`
    verifies."""
    hashes, times = pair_hashes(*to_catalog_coordinates(*clip_peaks, transform), landmark)
    q, rec, t, _repeats, _counts = index.postings(hashes, landmark.max_postings)
    if only is not None:
        keep = np.isin(rec, np.fromiter(only, np.int64, len(only)))
        q, rec, t = q[keep], rec[keep], t[keep]
    votes = offset_votes(times[q], rec, t, exclude=exclude)
    return best_alignments(
        votes,
        min_votes=config.candidate_min_votes,
        max_recordings=recordings,
        per_recording=config.candidate_offsets,
        scan=config.candidate_scan,
    )


def verified_runs(
    index: LandmarkIndex,
    peaks_of: RecordingPeaks,
    presence: PresenceMap,
    clip_peaks: tuple[np.ndarray, np.ndarray],
    *,
    transform: Transform,
    recordings: int,
    landmark: LandmarkConfig,
    config: SpectralConfig,
    exclude: frozenset[int] = frozenset(),
    only: frozenset[int] | None = None,
) -> list[Run]:
    """Propose alignments for the clip's peaks under `transform` (`candidate_alignments`) and verify
    each against the presence map."""
    candidates = candidate_alignments(
        index,
        clip_peaks,
        transform=transform,
        recordings=recordings,
        landmark=landmark,
        config=config,
        exclude=exclude,
        only=only,
    )
    runs: list[Run] = []
    for recording, offset, _votes in candidates:
        runs.extend(verify(presence, recording, *peaks_of(recording), offset, config, transform))
    return runs


def select_clip_peaks(
    peaks: tuple[np.ndarray, np.ndarray, np.ndarray], config: SpectralConfig
) -> tuple[np.ndarray, np.ndarray]:
    return strongest_per_second(*peaks, config.candidate_peaks_per_second)
