"""Influence shares: combining the lanes' evidence on the clip's time grid, and turning float shares
into Decimal shares that, with the unattributed remainder, sum to exactly 1."""

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import numpy as np

from fingerprinting.engine.runs import GRID_PER_SECOND as GRID

ONE = Decimal(1)


@dataclass(frozen=True)
class Span:
    recording: int
    start: float
    end: float


def combine(
    *,
    duration: float,
    spans: list[Span],
    windows: list[tuple[float, float]],
    candidates: list[int],
    excess: np.ndarray,
    null_mass: float,
) -> tuple[dict[int, float], dict[int, float]]:
    """(verbatim part, style part) per recording, as fractions of the clip.

    Time covered by verbatim spans belongs to their recordings (split equally where several overlap).
    Uncovered time is split per frame among style candidates by e^2 / (sum e^2 + null_mass^2), where e
    is the window's excess over the null threshold (averaged over the windows covering the frame);
    what null_mass keeps is the "no attribution" part.
    """
    n_frames = max(1, int(round(duration * GRID)))
    owners = np.zeros(n_frames)
    cover: dict[int, np.ndarray] = {}
    for span in spans:
        mask = cover.setdefault(span.recording, np.zeros(n_frames, dtype=bool))
        mask[max(0, int(span.start * GRID)) : max(0, int(np.ceil(span.end * GRID)))] = True
    for mask in cover.values():
        owners += mask
    verbatim_part = {p: float((mask / np.maximum(owners, 1)).sum() / n_frames) for p, mask in cover.items()}
    uncovered = owners == 0
    style_part: dict[int, float] = {}
    if candidates and len(windows):
        excess = np.maximum(0.0, np.asarray(excess, dtype=np.float64).reshape(len(windows), len(candidates)))
        strength = np.zeros((n_frames, len(candidates)))
        counts = np.zeros(n_frames)
        for w, (start, end) in enumerate(windows):
            a, b = max(0, int(start * GRID)), min(n_frames, int(np.ceil(end * GRID)))
            strength[a:b] += excess[w]
            counts[a:b] += 1
        strength /= np.maximum(counts, 1)[:, None]
        squared = strength**2
        frame_share = squared / (squared.sum(axis=1, keepdims=True) + null_mass**2)
        for j, p in enumerate(candidates):
            value = float(frame_share[uncovered, j].sum() / n_frames)
            if value > 0:
                style_part[p] = style_part.get(p, 0.0) + value
    return verbatim_part, style_part


def rank(totals: dict[int, float], *, min_share: float, max_shares: int) -> list[tuple[int, float]]:
    """The recordings that keep a share: at least min_share, at most max_shares, largest first (ties by
    position so the order is deterministic)."""
    kept = [(p, v) for p, v in totals.items() if v >= min_share]
    kept.sort(key=lambda pv: (-round(pv[1], 12), pv[0]))
    return kept[:max_shares]


def quantize(values: list[float], *, places: int) -> tuple[list[Decimal], Decimal]:
    """Decimal shares (rounded down to `places` decimals, so their sum never exceeds 1) and the
    remainder 1 - sum, exactly. Values are scaled down first if they sum above 1. Zero shares are
    returned as zero; callers drop them."""
    quantum = Decimal(1).scaleb(-places)
    clean = [min(1.0, max(0.0, float(v))) if np.isfinite(v) else 0.0 for v in values]
    total = sum(clean)
    if total > 1.0:
        clean = [v / total for v in clean]
    shares = [Decimal(repr(v)).quantize(quantum, rounding=ROUND_DOWN) for v in clean]
    while sum(shares, Decimal(0)) > ONE:  # float noise after scaling; take it off the largest
        i = max(range(len(shares)), key=lambda k: shares[k])
        shares[i] -= quantum
    remainder = ONE - sum(shares, Decimal(0))
    return shares, remainder
