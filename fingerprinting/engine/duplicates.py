"""Near-duplicates in a catalog: the same master under several ISRCs (remasters, compilations, radio
edits). A recording's whole fingerprint is matched against the rest of the catalog with the
Chromaprint lane; two recordings whose runs cover at least `min_coverage` of the shorter one, with a
low bit error rate and far beyond chance, are the same audio. Groups are the connected components of
such pairs.

Attributions name a group's canonical member (engine.pipeline.name_groups), the calibration leaves a
whole group out (a recording's duplicate is not a false alarm), and the recording page lists them.
An index version built on a previous one checks only its new recordings (against all) and keeps the
pairs found before among the recordings still there.
"""

import numpy as np

from fingerprinting.engine import chromaprint
from fingerprinting.engine.config import EngineConfig


def pairs_of(index, position: int, config: EngineConfig) -> list[dict]:
    """The recordings that hold the same audio as the one at `position` ({"a", "b", "covered", "ber"},
    recording ids)."""
    cfg = config.near_duplicates
    fp = np.asarray(index.chromaprint.recording_fp(position))
    runs = chromaprint.find_runs(index.chromaprint, fp, config.chromaprint, frozenset({position}))
    strong = [r for r in runs if r.score >= cfg.min_score and r.detail["ber"] <= cfg.max_ber]
    out = []
    for other in sorted({r.recording for r in strong}):
        shorter = min(index.recordings[position]["duration"], index.recordings[other]["duration"])
        grid = np.zeros(int(np.ceil(shorter * 10)) + 1, bool)
        for r in strong:
            if r.recording == other:
                grid[int(r.clip_start * 10) : int(np.ceil(r.clip_end * 10))] = True
        covered = min(1.0, float(grid.sum()) / 10 / max(shorter, 1e-6))
        if covered >= cfg.min_coverage:
            bers = [r.detail["ber"] for r in strong if r.recording == other]
            out.append(
                {
                    "a": index.recordings[position]["id"],
                    "b": index.recordings[other]["id"],
                    "covered": round(covered, 3),
                    "ber": round(float(np.mean(bers)), 4),
                }
            )
    return out


def near_duplicate_groups(index, config: EngineConfig, previous=None) -> list[dict]:
    """[{"positions", "isrcs", "recording_ids", "pairs"}] for every group of two or more. Given the
    previous index version, only recordings new since then are matched (against all); the pairs found
    before between recordings still in the catalog are kept."""
    position_of = {row["id"]: p for p, row in enumerate(index.recordings)}
    checked: set[tuple] = set()  # (recording id, audio hash): new audio is matched again
    pairs: list[dict] = []
    if previous is not None:
        checked = {(row["id"], row.get("sha")) for row in previous.recordings}
        same = {
            rid
            for rid, sha in checked
            if rid in position_of and index.recordings[position_of[rid]].get("sha") == sha
        }
        for group in previous.meta.get("near_duplicates", []):
            pairs += [p for p in group.get("pairs", []) if p["a"] in same and p["b"] in same]
    for position, row in enumerate(index.recordings):
        if (row["id"], row.get("sha")) not in checked:
            pairs.extend(pairs_of(index, position, config))
    parent = list(range(index.n_recordings))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for pair in pairs:
        parent[root(position_of[pair["a"]])] = root(position_of[pair["b"]])
    members: dict[int, list[int]] = {}
    for position in range(index.n_recordings):
        members.setdefault(root(position), []).append(position)
    groups = []
    for positions in sorted((sorted(m) for m in members.values() if len(m) > 1), key=lambda m: m[0]):
        ids = [index.recordings[p]["id"] for p in positions]
        groups.append(
            {
                "positions": positions,
                "isrcs": [index.recordings[p]["isrc"] for p in positions],
                "recording_ids": ids,
                "pairs": _unique([p for p in pairs if p["a"] in ids]),
            }
        )
    return groups


def _unique(pairs: list[dict]) -> list[dict]:
    seen, out = set(), []
    for pair in pairs:
        key = frozenset((pair["a"], pair["b"]))
        if key not in seen:
            seen.add(key)
            out.append(pair)
    return out
