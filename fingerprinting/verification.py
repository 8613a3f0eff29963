"""Spectral verification lane: candidate alignments checked against the clip's spectrogram, for a
recording mixed under louder music (a -6 dB mashup partner, a recording under an unknown piece).

The landmark lane needs the quieter source's peaks to stay the strongest in their 11 x 15
neighbourhood and to pair up as in the catalog; under a louder source few do. But the quieter source
still adds energy at its own peak bins, so most of them remain small local maxima (5 x 7) of the mix.
Two stages:

1. Candidates: the landmark index's best-voted (recording, offset) alignments for a denser set of clip
   peaks (CANDIDATE_PEAKS_PER_SECOND), without any significance test (`LandmarkIndex.candidates`).
2. Verification: the recording's catalog peaks (recovered from its stored hashes), shifted by the
   offset, are looked up in the clip's presence map (small local maxima above the local mean level,
   tolerance 1 frame and 1 bin). A peak can hit by chance: where the clip is dense in local maxima,
   at that frame and bin (independence model: frame density x bin density / overall density). Per
   peak, hit in {0, 1} and chance p. The excess over chance, kappa = (hits - sum p) / (n - sum p), is
   the fraction of the recording's peaks the clip shows beyond chance: ~0.5-1 for the recording mixed
   6 dB under other music, up to ~0.45 over a few seconds for unrelated music in the same key and tempo
   (bench --seed 1). Runs are stretches where kappa over a sliding SMOOTH_SECONDS window stays above
   RUN_KAPPA for at least MIN_RUN_SECONDS; a run counts if its peaks beat the "similar music" level
   SIMILAR_KAPPA significantly: z = (hits - sum q) / sqrt(sum q (1 - q)) >= MIN_Z with
   q = p + SIMILAR_KAPPA (1 - p) (bench --seed 1: unrelated music reaches z 3.6, true runs >= 4.4).

Tempo and pitch edits (a clip time-stretched keeping pitch, or transposed keeping tempo) are the same
reuse with the catalog peaks moved: transposed by k semitones, catalog peak (t, f) sits at clip
(t - offset, f * 2^(k/12)); played r times faster, at clip frame (t - offset) / r with the same bin.
When the untransformed lanes leave the clip unexplained, `grid_runs` repeats both stages over a small
grid of such transforms (GRID): the clip's peaks are mapped back to catalog coordinates before hashing
(rounding breaks some hashes; the loose vote threshold tolerates that), and each candidate's catalog
peaks are mapped forward into the clip's presence map. More transforms are more chances for chance
alignments, hence the same z test against similar music, with MIN_Z chosen over the whole grid.

The clip spectrogram is computed once; each candidate costs a gather of a few hundred peaks.
"""

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter, uniform_filter

from fingerprinting import landmarks

CANDIDATE_PEAKS_PER_SECOND = 90
CANDIDATE_RECORDINGS = 32
CANDIDATE_OFFSETS = 3  # per recording
CANDIDATE_MIN_VOTES = 3
LOCAL_MAX = (5, 7)  # frames x bins a presence-map maximum dominates
BACKGROUND_BINS = 31  # ... and it must be above the mean log level of this many bins around it
TOLERANCE = (3, 3)  # a catalog peak hits within 1 frame and 1 bin
SMOOTH_SECONDS = 2.0
MIN_WINDOW_PEAKS = 10
RUN_KAPPA = 0.3
MIN_RUN_SECONDS = 3.0
SIMILAR_KAPPA = 0.2
MIN_Z = 5.0
# Transforms tried when the clip is not explained without one: (tempo rate, semitones). A rate of 1.05
# means the clip plays 5 % faster than the recording. Pitch in half-semitone steps: a transposition a
# quarter tone off a grid point moves peaks ~1.5 % (7 bins at the top), beyond the 1-bin tolerance.
# Tempo in 5 % steps: a clip 2.5 % off still gives runs where the drift stays within a frame or two,
# and the style lane covers the rest; 2.5 % steps were tried (bench --seed 1 and 2) and brought
# unrelated music at other tempos to z 4.6 (1.075 x tempo-mates), too close to MIN_Z.
GRID = tuple((1.0, k / 2) for k in (2, -2, 4, -4, 1, -1, 3, -3)) + tuple(
    (r, 0.0) for r in (1.05, 0.95, 1.1, 0.9)
)
GRID_SKIP_COVERAGE = 0.9  # the grid is not tried when runs already cover this much of the clip
GRID_CANDIDATE_RECORDINGS = 8  # per transform


def parameters() -> dict:
    return {
        "candidate_peaks_per_second": CANDIDATE_PEAKS_PER_SECOND,
        "candidate_recordings": CANDIDATE_RECORDINGS,
        "candidate_offsets": CANDIDATE_OFFSETS,
        "candidate_min_votes": CANDIDATE_MIN_VOTES,
        "local_max": list(LOCAL_MAX),
        "background_bins": BACKGROUND_BINS,
        "tolerance": list(TOLERANCE),
        "smooth_seconds": SMOOTH_SECONDS,
        "run_kappa": RUN_KAPPA,
        "min_run_seconds": MIN_RUN_SECONDS,
        "similar_kappa": SIMILAR_KAPPA,
        "min_z": MIN_Z,
        "grid": [list(g) for g in GRID],
        "grid_skip_coverage": GRID_SKIP_COVERAGE,
        "grid_candidate_recordings": GRID_CANDIDATE_RECORDINGS,
    }


@dataclass(frozen=True)
class PresenceMap:
    """Where the clip has a small spectral local maximum (within the tolerance), and how dense such
    maxima are per frame and per bin (the chance of a hit)."""

    present: np.ndarray  # bool [frames, bins]; column j is FFT bin landmarks.LOW_BIN + j
    frame_density: np.ndarray
    bin_density: np.ndarray
    density: float

    @classmethod
    def of(cls, log: np.ndarray) -> "PresenceMap":
        if len(log) == 0:
            return cls(np.zeros(log.shape, bool), np.zeros(0), np.zeros(log.shape[1]), 0.0)
        background = uniform_filter(log, size=(1, BACKGROUND_BINS), mode="nearest")
        maxima = (log == maximum_filter(log, size=LOCAL_MAX, mode="nearest")) & (log > background)
        present = maximum_filter(maxima, size=TOLERANCE, mode="constant", cval=False)
        return cls(
            present=present,
            frame_density=present.mean(axis=1, dtype=np.float64),
            bin_density=present.mean(axis=0, dtype=np.float64),
            density=float(present.mean(dtype=np.float64)),
        )

    @property
    def frames(self) -> int:
        return int(self.present.shape[0])


@dataclass(frozen=True)
class SpectralRun:
    recording: int
    offset: int  # recording frame - clip frame
    clip_start: float
    clip_end: float
    rec_start: float
    rec_end: float
    peaks: int  # catalog peaks of the recording inside the run
    hits: int  # ... of which the clip shows
    kappa: float  # fraction of the recording's peaks present beyond chance
    z: float  # significance of exceeding SIMILAR_KAPPA
    tempo: float = 1.0  # the clip plays this many times faster than the recording
    semitones: float = 0.0  # ... and is transposed by this much


def verify(
    presence: PresenceMap,
    recording: int,
    peak_frames: np.ndarray,
    peak_bins: np.ndarray,
    offset: int,
    tempo: float = 1.0,
    semitones: float = 0.0,
) -> list[SpectralRun]:
    """The runs where the recording's peaks, shifted by `offset` frames (then played `tempo` times
    faster and transposed by `semitones`), are present in the clip."""
    n_frames = presence.frames
    if n_frames == 0 or presence.density <= 0:
        return []
    t = peak_frames.astype(np.int64) - offset
    f = peak_bins.astype(np.int64)
    if tempo != 1.0:
        t = np.round(t / tempo).astype(np.int64)
    if semitones:
        f = np.round(f * 2.0 ** (semitones / 12.0)).astype(np.int64)
    f = f - landmarks.LOW_BIN
    inside = (t >= 0) & (t < n_frames) & (f >= 0) & (f < presence.present.shape[1])
    t, f = t[inside], f[inside]
    if len(t) < MIN_WINDOW_PEAKS:
        return []
    hit = presence.present[t, f].astype(np.float64)
    chance = np.clip(presence.frame_density[t] * presence.bin_density[f] / presence.density, 0.0, 1.0)

    def window_sums(values: np.ndarray) -> np.ndarray:
        per_frame = np.bincount(t, weights=values, minlength=n_frames)
        cumulative = np.concatenate([[0.0], np.cumsum(per_frame)])
        half = int(round(SMOOTH_SECONDS / landmarks.FRAME_SECONDS)) // 2
        lo = np.clip(np.arange(n_frames) - half, 0, n_frames)
        hi = np.clip(np.arange(n_frames) + half + 1, 0, n_frames)
        return cumulative[hi] - cumulative[lo]

    hits_w, chance_w, count_w = window_sums(hit), window_sums(chance), window_sums(np.ones(len(t)))
    kappa_w = np.where(
        count_w >= MIN_WINDOW_PEAKS, (hits_w - chance_w) / np.maximum(count_w - chance_w, 1e-9), -1.0
    )
    good = kappa_w >= RUN_KAPPA
    edges = np.diff(np.concatenate([[0], good.astype(np.int8), [0]]))
    runs = []
    for a, b in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
        if (b - a) * landmarks.FRAME_SECONDS < MIN_RUN_SECONDS:
            continue
        mine = (t >= a) & (t < b)
        n, hits, p = int(mine.sum()), float(hit[mine].sum()), chance[mine]
        expected = float(p.sum())
        q = p + SIMILAR_KAPPA * (1.0 - p)
        z = (hits - float(q.sum())) / np.sqrt(max(float((q * (1.0 - q)).sum()), 1e-9))
        if z < MIN_Z:
            continue
        start, end = a * landmarks.FRAME_SECONDS, b * landmarks.FRAME_SECONDS
        shift = offset * landmarks.FRAME_SECONDS
        runs.append(
            SpectralRun(
                recording=recording,
                offset=offset,
                clip_start=float(start),
                clip_end=float(end),
                rec_start=float(start * tempo + shift),
                rec_end=float(end * tempo + shift),
                peaks=n,
                hits=int(round(hits)),
                kappa=float((hits - expected) / max(n - expected, 1e-9)),
                z=float(z),
                tempo=tempo,
                semitones=semitones,
            )
        )
    return runs


def _to_catalog(
    t: np.ndarray, f: np.ndarray, tempo: float, semitones: float
) -> tuple[np.ndarray, np.ndarray]:
    """Clip peaks (sorted by frame then bin) in the coordinates of a recording the clip would be
    `tempo` times faster than and transposed `semitones` from: frames times tempo, bins divided by
    the pitch ratio, sorted again and without duplicates."""
    if tempo == 1.0 and not semitones:
        return t, f
    ct = np.round(t * tempo).astype(np.int64)
    cf = np.round(f / 2.0 ** (semitones / 12.0)).astype(np.int64)
    codes = np.unique((ct << 16) | cf)
    return (codes >> 16).astype(np.int32), (codes & 0xFFFF).astype(np.int32)


def _verified(
    index: landmarks.LandmarkIndex,
    presence: PresenceMap,
    peaks: tuple[np.ndarray, np.ndarray],
    *,
    recordings: int,
    tempo: float,
    semitones: float,
    peaks_of: dict[int, tuple[np.ndarray, np.ndarray]],
) -> list[SpectralRun]:
    candidates = index.candidates(
        *landmarks.pair_hashes(*_to_catalog(*peaks, tempo, semitones)),
        recordings=recordings,
        per_recording=CANDIDATE_OFFSETS,
        min_votes=CANDIDATE_MIN_VOTES,
    )
    runs: list[SpectralRun] = []
    for recording, offset, _votes in candidates:
        if recording not in peaks_of:
            peaks_of[recording] = index.recording_peaks(recording)
        runs.extend(verify(presence, recording, *peaks_of[recording], offset, tempo, semitones))
    return runs


def candidate_runs(
    index: landmarks.LandmarkIndex,
    log: np.ndarray,
    peaks: tuple[np.ndarray, np.ndarray, np.ndarray],
    presence: PresenceMap | None = None,
) -> list[SpectralRun]:
    """Candidates from the landmark index for the clip's denser peaks (`peaks` as returned by
    `landmarks.peaks_of_spectrogram` of `log` with the clip neighbourhood), each verified against the
    clip's presence map."""
    presence = presence if presence is not None else PresenceMap.of(log)
    return _verified(
        index,
        presence,
        landmarks.select(*peaks, CANDIDATE_PEAKS_PER_SECOND),
        recordings=CANDIDATE_RECORDINGS,
        tempo=1.0,
        semitones=0.0,
        peaks_of={},
    )


def grid_runs(
    index: landmarks.LandmarkIndex,
    log: np.ndarray,
    peaks: tuple[np.ndarray, np.ndarray, np.ndarray],
    presence: PresenceMap | None = None,
) -> list[SpectralRun]:
    """`candidate_runs` over the tempo and pitch transforms of GRID: recordings the clip reuses
    time-stretched (pitch kept) or transposed (tempo kept)."""
    presence = presence if presence is not None else PresenceMap.of(log)
    selected = landmarks.select(*peaks, CANDIDATE_PEAKS_PER_SECOND)
    peaks_of: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    runs: list[SpectralRun] = []
    covered = np.zeros(presence.frames, bool)
    for tempo, semitones in GRID:
        found = _verified(
            index,
            presence,
            selected,
            recordings=GRID_CANDIDATE_RECORDINGS,
            tempo=tempo,
            semitones=semitones,
            peaks_of=peaks_of,
        )
        runs.extend(found)
        for run in found:
            a = int(round(run.clip_start / landmarks.FRAME_SECONDS))
            covered[a : int(round(run.clip_end / landmarks.FRAME_SECONDS))] = True
        if covered.mean() >= GRID_SKIP_COVERAGE:  # the clip is explained: the rest of the grid is spared
            break
    return runs
