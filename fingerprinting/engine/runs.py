"""Runs: the one evidence type of every verbatim lane. A run says "clip seconds [a, b) reuse recording
seconds [c, d), played `tempo` times faster and transposed `semitones`", with the lane's statistic
and the calibrated chance that unrelated music gives a run this strong (`false_alarm`)."""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

GRID_PER_SECOND = 10  # the 0.1 s grid clip time is accounted on


@dataclass(frozen=True)
class Transform:
    """How the clip relates to the recording: it plays `tempo` times faster (1.05: 5 % faster) and is
    transposed by `semitones`. A resampling (speed) change by s is tempo s and 12 log2 s semitones."""

    tempo: float = 1.0
    semitones: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.tempo == 1.0 and self.semitones == 0.0

    def as_dict(self) -> dict:
        return {"tempo": self.tempo, "semitones": self.semitones}


IDENTITY = Transform()


@dataclass(frozen=True)
class Run:
    lane: str  # the lane that found it: "chromaprint", "landmark", "spectral"
    recording: int  # position in the index's recording table
    clip_start: float
    clip_end: float
    rec_start: float
    rec_end: float
    score: float  # the lane's statistic; larger is stronger (see the lane's module)
    strength: float  # how much of the recording's signal is present, in [0, 1] (confidence)
    transform: Transform = IDENTITY
    false_alarm: float | None = None  # per clip, from the index's calibration (engine.calibration)
    detail: dict = field(default_factory=dict, compare=False)  # lane figures shown as evidence

    @property
    def seconds(self) -> float:
        return self.clip_end - self.clip_start

    def with_false_alarm(self, value: float) -> "Run":
        return replace(self, false_alarm=value)

    def as_evidence(self) -> dict:
        return {
            "method": self.lane,
            "clip_start": round(self.clip_start, 2),
            "clip_end": round(self.clip_end, 2),
            "rec_start": round(self.rec_start, 2),
            "rec_end": round(self.rec_end, 2),
            **self.transform.as_dict(),
            "score": round(self.score, 3) if np.isfinite(self.score) else None,
            "false_alarm": float(f"{self.false_alarm:.3g}") if self.false_alarm is not None else None,
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.detail.items()},
        }


def _grid_span(run: Run) -> tuple[int, int]:
    return max(0, int(run.clip_start * GRID_PER_SECOND)), max(0, int(np.ceil(run.clip_end * GRID_PER_SECOND)))


def select_runs(runs: Iterable[Run], *, min_new_seconds: float) -> list[Run]:
    """Most significant runs first (lowest false-alarm chance, then longest); a run that mostly
    repeats better ones of the same recording over the same clip time (repetitive music matches at
    several offsets) is dropped: one that adds less than half its length, and less than
    `min_new_seconds`, to the time they cover. A longer run that a better, shorter one covers in part
    (a tempo-grid run around a Chromaprint run) stays."""
    chosen: list[Run] = []
    covered: dict[int, np.ndarray] = {}

    def rank(r: Run):
        fa = r.false_alarm if r.false_alarm is not None else 1.0
        return (fa, -round(r.score, 9), -r.seconds, r.recording, r.clip_start, r.lane)

    for run in sorted(runs, key=rank):
        a, b = _grid_span(run)
        mask = covered.get(run.recording, np.zeros(0, bool))
        if len(mask) < b:
            mask = np.concatenate([mask, np.zeros(b - len(mask), bool)])
        new_seconds = float((~mask[a:b]).sum()) / GRID_PER_SECOND
        if run.recording in covered and new_seconds < min(0.5 * run.seconds, min_new_seconds):
            continue
        mask[a:b] = True
        covered[run.recording] = mask
        chosen.append(run)
    return sorted(chosen, key=lambda r: (r.clip_start, r.recording))


def coverage(runs: Iterable[Run], duration: float) -> float:
    """The fraction of the clip's time covered by any run."""
    frames = int(duration * GRID_PER_SECOND)
    if frames <= 0:
        return 0.0
    grid = np.zeros(frames + 1, dtype=bool)
    for run in runs:
        a, b = _grid_span(run)
        grid[a:b] = True
    return float(grid[:frames].mean())
