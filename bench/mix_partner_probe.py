"""Why the quieter partner of a mix is missed, measured on the real corpus (issue 11, mixes): a
diagnostic, not a quality table. It changes nothing in the engine; it reads the engine's own pieces.

For every mix clip of the part (`mix_*` kinds: the louder layer A at 0 dB, the partner B at the kind's
level), with A known at its true offset (as the spectral lane's second pass knows a found source):
1. *Verification at the truth*: B's catalog peaks against the clip's presence map with A's cleared
   (`PresenceMap.without`), at B's true offset +-2 frames: the best run `spectral.verify` gives there,
   and the whole-clip z and kappa (`spectral.span_evidence`). Says whether B is visible at all.
2. *Proposal*: whether the second pass's candidate alignments (landmark pair hashes of the clip's peaks
   with A's taken out, `best_alignments` as `SpectralLane` calls it) include B within 2 frames of its
   true offset. Says whether the lane ever looks where B is.
3. *A wider proposal, probed*: every recording but A, its 3 best offsets by single-peak votes (each
   catalog peak against every present cell of the clip's map in its bin), verified there. B's best
   run, and, as its null, the best run of any *other* recording in the same clip. The same probe on
   clips with one catalog source (excerpt, reverb, noise_0db, under_music) gives more of the null.
The evidence bound is the z at which the index's calibration puts a 20 s spectral run's false-alarm
chance at `evidence.max_false_alarm`.

    DEBUG=1 .venv/bin/python bench/mix_partner_probe.py --workdir DIR [--part tuning] [--scratch DIR]

Tune nothing on `--part reporting`: the probe is for the tuning part (the default).
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_engine  # noqa: E402

NULL_KINDS = ("excerpt", "reverb", "noise_0db", "under_music")
OFFSET_SLACK = 2  # frames: the presence map's tolerance (1) and rounding of the layer's start (1)
PROBE_OFFSETS = 3  # offsets verified per recording, as `SpectralConfig.candidate_offsets`


def load_catalog(part_dir: Path, manifest: dict, scratch: Path | None):
    folder = real_engine.scratch_django("stemma-mix-probe-", scratch)
    from catalog.models import Label

    label = Label.objects.filter(slug="mix-probe").first()
    if label is None:
        label = real_engine.label_create("mix-probe")
        real_engine.catalog_load(
            label=label,
            csv_path=part_dir / manifest["catalog_csv"],
            audio_dir=part_dir / manifest["catalog_audio"],
        )
    return folder, real_engine.current_index(label)


def evidence_bound(index, config, seconds: float = 20.0) -> float:
    """The lowest spectral z (0.1 steps) whose false-alarm chance is within the evidence bound."""
    from fingerprinting.engine.calibration import Calibration

    calibration = Calibration.of(index.meta, config)
    for z in np.arange(3.0, 40.0, 0.1):
        if calibration.false_alarm("spectral", float(z), seconds) <= config.evidence.max_false_alarm:
            return float(round(z, 1))
    return float("inf")


def vote_offsets(presence, peaks, count: int) -> list[int]:
    """The `count` offsets at which most of the recording's catalog peaks land on present cells."""
    from fingerprinting.engine.signal import LOW_BIN
    from fingerprinting.engine.votes import expand_ranges

    frames, bins = peaks[0].astype(np.int64), peaks[1].astype(np.int64) - LOW_BIN
    inside = (bins >= 0) & (bins < presence.present.shape[1])
    frames, bins = frames[inside], bins[inside]
    order = np.argsort(bins, kind="stable")
    frames, bins = frames[order], bins[order]
    per_bin = np.bincount(bins, minlength=presence.present.shape[1])
    first = np.cumsum(per_bin) - per_bin
    clip_t, clip_f = np.nonzero(presence.present)
    reps = per_bin[clip_f]
    if reps.sum() == 0:
        return []
    offsets = frames[expand_ranges(first[clip_f], reps)] - np.repeat(clip_t, reps)
    low = int(offsets.min())
    votes = np.bincount(offsets - low)
    return [int(o) + low for o in np.argsort(-votes, kind="stable")[:count]]


def best_run(presence, recording: int, peaks, offsets, config) -> tuple[float, float, int | None]:
    """(z, kappa, offset) of the recording's best run over `offsets`; z -inf when there is none."""
    from fingerprinting.engine import spectral

    best = (-np.inf, 0.0, None)
    for offset in offsets:
        for run in spectral.verify(presence, recording, *peaks, offset, config.spectral):
            if run.score > best[0]:
                best = (float(run.score), float(run.detail["kappa"]), int(offset))
    return best


def proposed_near(features, index, config, known: tuple[int, int], partner: int, offset: int) -> bool:
    """Whether the second pass's candidate alignments (`spectral.candidate_alignments` on the clip's
    peaks with the known source's taken out, as `SpectralLane` calls it) hold the partner within
    OFFSET_SLACK."""
    from fingerprinting.engine import landmarks, spectral
    from fingerprinting.engine.runs import IDENTITY

    source, source_offset = known
    frames, bins = index.peaks(source)
    rest = landmarks.without_explained(*features.peaks, [(frames - source_offset, bins)])
    candidates = spectral.candidate_alignments(
        index.landmarks,
        spectral.select_clip_peaks(rest, config.spectral),
        transform=IDENTITY,
        recordings=config.spectral.candidate_recordings,
        landmark=config.landmark,
        config=config.spectral,
        exclude=frozenset([source]),
    )
    return any(r == partner and abs(o - offset) <= OFFSET_SLACK for r, o, _v in candidates)


def probe_clip(path: Path, clip: dict, index, config, positions: dict[str, int]) -> dict:
    from fingerprinting.audio import decode
    from fingerprinting.engine import spectral
    from fingerprinting.engine.lanes import ClipFeatures
    from fingerprinting.engine.signal import FRAME_SECONDS

    features = ClipFeatures(decode(path), config, index.embedder)
    layers = [layer for layer in clip["layers"] if layer.get("isrc")]

    def offset_of(layer: dict) -> int:
        return int(round((layer["source_start"] - layer.get("clip_start", 0.0)) / FRAME_SECONDS))

    source, source_offset = positions[layers[0]["isrc"]], offset_of(layers[0])
    frames, bins = index.peaks(source)
    presence = features.presence.without([(frames - source_offset, bins)], config.spectral)
    partner = positions[layers[1]["isrc"]] if len(layers) > 1 else None
    probed = {}
    for recording in range(index.n_recordings):
        if recording != source:
            peaks = index.peaks(recording)
            probed[recording] = best_run(
                presence, recording, peaks, vote_offsets(presence, peaks, PROBE_OFFSETS), config
            )
    out = {
        "kind": clip["kind"],
        "null_best": max((v[0] for r, v in probed.items() if r != partner), default=-np.inf),
    }
    if partner is not None:
        truth = offset_of(layers[1])
        peaks = index.peaks(partner)
        near = range(truth - OFFSET_SLACK, truth + OFFSET_SLACK + 1)
        whole = [
            spectral.span_evidence(presence, *peaks, o, (0, presence.frames), config.spectral) for o in near
        ]
        z, kappa, where = probed[partner]
        out |= {
            "at_truth": best_run(presence, partner, peaks, near, config)[0],
            "whole_z": max((w[0] for w in whole if w is not None), default=-np.inf),
            "whole_kappa": max((w[1] for w in whole if w is not None), default=0.0),
            "proposed": proposed_near(features, index, config, (source, source_offset), partner, truth),
            "probe_z": z,
            "probe_at_truth": where is not None and abs(where - truth) <= OFFSET_SLACK,
        }
    return out


def report(rows: list[dict], bound: float, part: str) -> None:
    print(f"\n{part} part; evidence bound for a 20 s spectral run: z >= {bound}")
    print("kind          n  visible  proposed  probe@truth  probe>=bound  null>=bound  null max")
    for kind in sorted({r["kind"] for r in rows}):
        mine = [r for r in rows if r["kind"] == kind]
        null = np.array([r["null_best"] for r in mine])
        if "probe_z" in mine[0]:
            visible = sum(r["at_truth"] >= bound for r in mine)
            proposed = sum(r["proposed"] for r in mine)
            at_truth = sum(r["probe_at_truth"] for r in mine)
            passed = sum(r["probe_at_truth"] and r["probe_z"] >= bound for r in mine)
            cells = f"{visible:7d}  {proposed:8d}  {at_truth:11d}  {passed:12d}"
        else:
            cells = f"{'-':>7}  {'-':>8}  {'-':>11}  {'-':>12}"
        print(f"{kind:12s} {len(mine):2d}  {cells}  {int((null >= bound).sum()):11d}  {null.max():8.1f}")
    print(
        "visible: a run of the partner at its true offset reaches the bound; proposed: the second pass's\n"
        "candidates hold that offset; probe: single-peak votes over every recording, 3 offsets each;\n"
        "null: the best run of any other recording in the clip (mixes: neither A nor B)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--part", choices=("tuning", "reporting"), default="tuning")
    parser.add_argument("--scratch", type=Path, help="keep the imported catalog here, and reuse it")
    parser.add_argument("--json", type=Path, help="write the per-clip figures here")
    args = parser.parse_args()
    part_dir = args.workdir.resolve() / "parts" / args.part
    manifest = json.loads((part_dir / "manifest.json").read_text())
    folder, index = load_catalog(part_dir, manifest, args.scratch)
    try:
        from fingerprinting import engine

        config = engine.DEFAULT_CONFIG
        positions = {r["isrc"]: i for i, r in enumerate(index.recordings)}
        rows = []
        for file, clip in manifest["clips"].items():
            if clip["kind"].startswith("mix_") or clip["kind"] in NULL_KINDS:
                rows.append({"file": file, **probe_clip(part_dir / file, clip, index, config, positions)})
        report(rows, evidence_bound(index, config), args.part)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1, default=float))
    finally:
        if args.scratch is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
