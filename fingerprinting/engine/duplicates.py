"""Near-duplicates in a catalog: the same master under several ISRCs (remasters, compilations, radio
edits). Each recording's whole fingerprint is matched against the rest of the catalog with the
Chromaprint lane; two recordings whose runs cover at least `min_coverage` of the shorter one, with a
low bit error rate, are the same audio. Groups are the connected components of such pairs.

Attributions name a group's canonical member (engine.pipeline.name_groups), the calibration leaves a
whole group out (a recording's duplicate is not a false alarm), and the recording page lists them.
"""

import numpy as np

from fingerprinting.engine import chromaprint
from fingerprinting.engine.config import EngineConfig


def _pairs_of(index, position: int, config: EngineConfig) -> list[dict]:
    cfg = config.near_duplicates
    fp = index.chromaprint.recording_fp(position)
    runs = chromaprint.find_runs(index.chromaprint, np.asarray(fp), config.chromaprint, frozenset({position}))
    strong = [r for r in runs if r.score >= cfg.min_score and r.detail["ber"] <= cfg.max_ber]
    out = []
    for other in sorted({r.recording for r in strong}):
        shorter = min(index.recordings[position]["duration"], index.recordings[other]["duration"])
        grid = np.zeros(int(np.ceil(shorter * 10)) + 1, bool)
        for r in strong:
            if r.recording == other:
                grid[int(r.clip_start * 10) : int(np.ceil(r.clip_end * 10))] = True
        covered = float(grid.sum()) / 10 / max(shorter, 1e-6)
        if covered >= cfg.min_coverage:
            bers = [r.detail["ber"] for r in strong if r.recording == other]
            out.append(
                {
                    "a": position,
                    "b": other,
                    "covered": round(min(1.0, covered), 3),
                    "ber": round(float(np.mean(bers)), 4),
                }
            )
    return out


def near_duplicate_groups(index, config: EngineConfig) -> list[dict]:
    """[{"positions": [...], "isrcs": [...], "pairs": [...]}] for every group of two or more."""
    parent = list(range(index.n_recordings))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pairs = []
    for position in range(index.n_recordings):
        for pair in _pairs_of(index, position, config):
            if pair["a"] < pair["b"] or not any(p["a"] == pair["b"] and p["b"] == pair["a"] for p in pairs):
                pairs.append(pair)
            parent[root(pair["a"])] = root(pair["b"])
    members: dict[int, list[int]] = {}
    for position in range(index.n_recordings):
        members.setdefault(root(position), []).append(position)
    groups = []
    for positions in sorted((sorted(m) for m in members.values() if len(m) > 1), key=lambda m: m[0]):
        groups.append(
            {
                "positions": positions,
                "isrcs": [index.recordings[p]["isrc"] for p in positions],
                "recording_ids": [index.recordings[p]["id"] for p in positions],
                "pairs": [p for p in pairs if p["a"] in positions],
            }
        )
    return groups
