"""`attribution_quality.py --corpus real`: the issue-11 table on the real-music corpus.

Per part (its own scratch database and index): import the part's catalog, attribute every clip of its
manifest, and print per kind:
- n; rec@1: the rank-1 recording is a true source, or in a true source's near-duplicate group;
- rec@5: every true source (or a member of its group) in the top 5; both@2 (mixes, sequences): in the top 2;
- MAE: share mean absolute error over the true recordings plus the remainder (as the synth mode), with
  the shares of a near-duplicate group added up (the same audio under two ISRCs);
- false: fraction of clips giving a share >= 0.05 to a recording that is neither a true source nor in a
  true source's group (for negatives: any share >= 0.05);
- auto: fraction auto-accepted (for negatives: auto-accepted false attributions); f+auto: false and
  auto-accepted (money paid to the wrong people without a person looking);
- cpu: median CPU seconds per clip (decode + engine, this process and its ffmpeg children);
- the issue-11 target and ok/MISS.
A clip the service refuses (too short, silent) counts as a miss with no shares.
"""

import json
import shutil
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import real_engine

FALSE_SHARE = 0.05
SINGLE_SOURCE = (
    "excerpt", "mp3_64k", "ogg_q0", "lowpass_3k", "reverb", "noise_10db",
    "tempo_+5", "tempo_-5", "tempo_+10", "tempo_-10", "pitch_+1", "pitch_-1", "pitch_+2", "pitch_-2",
)  # fmt: skip
NEGATIVE_KINDS = ("negative", "negative_edited")
PAIR_KINDS = ("mix_0db", "mix_-6db", "mix_-10db", "sequence")
MAE_TARGET = 0.03  # share MAE over all clips


def target(kind: str) -> tuple[str, float, str] | None:
    """(metric, bound, direction) from issue 11, or None when the issue sets none for the kind."""
    if kind in SINGLE_SOURCE:
        return ("rec@1", 0.99, ">=")
    if kind == "noise_0db":
        return ("rec@1", 0.98, ">=")
    if kind == "under_music":
        return ("rec@1", 0.85, ">=")
    if kind in ("mix_0db", "mix_-6db"):
        return ("both@2", 0.95, ">=")
    return None


def canon_of(group_of: dict[str, str], also: list[dict] = ()):
    """isrc -> the key it is scored under: its near-duplicate group, or for a recording audible through a
    passage shared with a source (manifest `also_audible`) that source's key, for this clip only."""
    via = {a["isrc"]: a["via"] for a in also}

    def canon(isrc: str) -> str:
        return group_of.get(isrc, via.get(isrc) and group_of.get(via[isrc], via[isrc]) or isrc)

    return canon


def clip_metrics(
    truth: dict[str, float], outcome: real_engine.Outcome, group_of: dict[str, str], also: list[dict] = ()
) -> dict:
    """`also`: recordings that are audible in the clip through a passage they share with a source
    (manifest `also_audible`); they count as that source, like a near-duplicate, for this clip only."""
    canon = canon_of(group_of, also)
    true = defaultdict(float)
    for isrc, share in truth.items():
        true[canon(isrc)] += share
    predicted = defaultdict(float)
    ranked: list[str] = []
    for s in outcome.shares:
        key = canon(s["isrc"])
        predicted[key] += s["share"]
        if key not in ranked:
            ranked.append(key)
    false = any(s["share"] >= FALSE_SHARE and canon(s["isrc"]) not in true for s in outcome.shares)
    auto = outcome.review_state == "auto_accepted"
    errors = [abs(predicted.get(k, 0.0) - v) for k, v in true.items()]
    errors.append(abs(outcome.remainder - (1.0 - sum(true.values()))))
    return {
        "rec@1": bool(true) and bool(ranked) and ranked[0] in true,
        "rec@5": bool(true) and all(k in ranked[:5] for k in true),
        "both@2": bool(true) and all(k in ranked[:2] for k in true),
        "mae": float(np.mean(errors)),
        "false": false,
        "auto": auto,
        "false_auto": false and auto,
    }


def summarize(kind: str, rows: list[dict]) -> dict:
    n = len(rows)
    negative = kind in NEGATIVE_KINDS

    def rate(key: str) -> float:
        return sum(r["metrics"][key] for r in rows) / n

    return {
        "kind": kind,
        "n": n,
        "rec@1": None if negative else rate("rec@1"),
        "rec@5": None if negative else rate("rec@5"),
        "both@2": rate("both@2") if kind in PAIR_KINDS else None,
        "mae": float(np.mean([r["metrics"]["mae"] for r in rows])),
        "false": rate("false"),
        "auto": rate("false_auto") if negative else rate("auto"),
        "false_auto": rate("false_auto"),
        "cpu": float(np.median([r["cpu_seconds"] for r in rows])),
        "rejected": sum(bool(r["error"]) for r in rows),
    }


def verdict(row: dict) -> str:
    if row["kind"] in NEGATIVE_KINDS:
        ok = row["false"] <= 0.01 and row["auto"] == 0
        return ("ok" if ok else "MISS") + "  false <= 0.01, auto 0"
    t = target(row["kind"])
    if t is None:
        return ""
    metric, bound, _ = t
    return ("ok" if row[metric] >= bound else "MISS") + f"  {metric} >= {bound}"


def fmt(x) -> str:
    return "    - " if x is None else f"{x:6.3f}"


def print_table(header: str, rows: list[dict], clips: list[dict]) -> None:
    print(f"\n{header}")
    print(
        f"{'kind':<16} {'n':>4} {'rec@1':>6} {'rec@5':>6} {'both@2':>6} {'MAE':>6} {'false':>6} "
        f"{'auto':>6} {'f+auto':>6} {'cpu s':>6}  target"
    )
    for r in rows:
        extra = f"  ({r['rejected']} refused)" if r["rejected"] else ""
        print(
            f"{r['kind']:<16} {r['n']:>4} {fmt(r['rec@1'])} {fmt(r['rec@5'])} {fmt(r['both@2'])} "
            f"{fmt(r['mae'])} {fmt(r['false'])} {fmt(r['auto'])} {fmt(r['false_auto'])} {r['cpu']:6.3f}  "
            f"{verdict(r)}{extra}"
        )
    mae = float(np.mean([c["metrics"]["mae"] for c in clips]))
    positives = [c for c in clips if c["kind"] not in NEGATIVE_KINDS]
    negatives = [c for c in clips if c["kind"] in NEGATIVE_KINDS]
    print(
        f"{'all clips':<16} {len(clips):>4} {'':>6} {'':>6} {'':>6} {mae:6.3f} "
        f"{'':>6} {'':>6} {'':>6} {np.median([c['cpu_seconds'] for c in clips]):6.3f}  "
        f"{'ok' if mae <= MAE_TARGET else 'MISS'}  MAE <= {MAE_TARGET}"
    )
    for name, group in (("all positives", positives), ("all negatives", negatives)):
        if group:
            false = np.mean([c["metrics"]["false"] for c in group])
            auto = np.mean([c["metrics"]["auto"] for c in group])
            false_auto = np.mean([c["metrics"]["false_auto"] for c in group])
            print(
                f"{name:<16} {len(group):>4} {'':>6} {'':>6} {'':>6} {'':>6} {false:6.3f} "
                f"{(false_auto if name == 'all negatives' else auto):6.3f} {false_auto:6.3f}"
            )


CALIBRATION_LEVELS = (0.3, 0.1, 0.03, 0.01, 0.002)


def print_calibration(negatives: list[dict], index) -> None:
    """How well the false-alarm chances the engine predicts match what happens on unrelated music.
    Measured: for each level a, how many (clip, lane) pairs have the lane's strongest run (or style
    window) at a chance <= a. Predicted, per clip and lane: min(a, the chance the calibration gives of
    the lane finding any run at all on an unrelated clip of that length): a calibrated lane reaches
    <= a on a fraction a of unrelated clips only while a is below how often it fires at all (a lane
    that finds nothing on 95 % of unrelated clips has no strongest run to count on those). Only these
    negatives are used; the engine was not tuned on the reporting part's."""
    from fingerprinting.engine.calibration import Calibration
    from fingerprinting.engine.config import DEFAULT_CONFIG

    calibration = Calibration.of(index.meta, DEFAULT_CONFIG)
    lanes = sorted({lane for c in negatives for lane in c["evidence"].get("verbatim", {}).get("lanes", {})})
    chances = {lane: [] for lane in lanes}
    fires = {lane: [] for lane in lanes}  # per clip: the chance the lane finds any run on it
    for c in negatives:
        report = c["evidence"].get("verbatim", {}).get("lanes", {})
        duration = float(c["evidence"].get("duration_seconds") or 0.0)
        for lane in lanes:
            strongest = (report.get(lane) or {}).get("strongest") or {}
            chances[lane].append(strongest.get("false_alarm"))
            fires[lane].append(calibration.any_run_chance(lane, duration))
    n = len(negatives)
    print(f"\ncalibration on {n} unrelated clips: (clip, lane) pairs whose strongest run has a chance <= a")
    print("  predicted: sum over clips of min(a, the lane's chance of any run at all on the clip)")
    print(f"{'a':>6} {'predicted':>9} {'measured':>8}   per lane measured/predicted")
    for a in CALIBRATION_LEVELS:
        per_lane = {lane: sum(1 for f in fa if f is not None and f <= a) for lane, fa in chances.items()}
        expected = {lane: float(np.minimum(a, fires[lane]).sum()) for lane in lanes}
        detail = ", ".join(f"{lane} {per_lane[lane]}/{expected[lane]:.1f}" for lane in lanes)
        print(f"{a:6.3f} {sum(expected.values()):9.1f} {sum(per_lane.values()):8d}   {detail}")


def jsonable(x):
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def run_part(part: str, workdir: Path, kinds: set[str], limit: int) -> dict:
    base = workdir / "parts" / part
    manifest_path = base / "manifest.json"
    if not manifest_path.exists():
        raise SystemExit(
            f"{manifest_path} is missing: build the corpus first with "
            f".venv/bin/python bench/real_corpus.py --workdir {workdir}"
        )
    manifest = json.loads(manifest_path.read_text())
    split = manifest["split"][part]
    header = ("reporting part: never tuned on" if part == "reporting" else "tuning part") + (
        f" -- catalog {' + '.join(split['catalog'])}; unrelated {' + '.join(split['unrelated'])}"
    )
    group_of = {isrc: group[0] for group in manifest["near_duplicate_groups"] for isrc in group}
    label = real_engine.label_create(f"bench-{part}")
    loaded = real_engine.catalog_load(
        label=label, csv_path=base / manifest["catalog_csv"], audio_dir=base / manifest["catalog_audio"]
    )
    index = real_engine.current_index(label)
    print(
        f"{header}\n  catalog: {loaded['recordings']} recordings imported and indexed in "
        f"{loaded['seconds']:.0f} s ({loaded['statuses']}); engine {real_engine.engine_version(index)}",
        flush=True,
    )
    by_kind = defaultdict(list)
    for file, clip in manifest["clips"].items():
        if (not kinds or clip["kind"] in kinds) and (not limit or len(by_kind[clip["kind"]]) < limit):
            by_kind[clip["kind"]].append((file, clip))
    clips, rows = [], []
    started = time.perf_counter()
    for kind, entries in by_kind.items():
        kind_rows = []
        for file, clip in entries:
            outcome = real_engine.attribute(label=label, path=base / file)
            metrics = clip_metrics(clip["truth"], outcome, group_of, clip.get("also_audible", []))
            kind_rows.append(
                {
                    "part": part,
                    "file": file,
                    "kind": kind,
                    "truth": clip["truth"],
                    "near_duplicate_groups": [
                        g for g in manifest["near_duplicate_groups"] if set(g) & set(clip["truth"])
                    ],
                    "also_audible": clip.get("also_audible", []),
                    "edit": clip["edit"],
                    "shares": outcome.shares,
                    "remainder": outcome.remainder,
                    "confidence": outcome.confidence,
                    "review_state": outcome.review_state,
                    "review_reasons": outcome.review_reasons,
                    "evidence": outcome.evidence,
                    "timings": outcome.timings,
                    "cpu_seconds": outcome.cpu_seconds,
                    "error": outcome.error,
                    "metrics": metrics,
                }
            )
        rows.append(summarize(kind, kind_rows))
        clips.extend(kind_rows)
        print(f"  {kind}: {len(kind_rows)} clips, {time.perf_counter() - started:.0f} s so far", flush=True)
    print_table(header, rows, clips)
    negatives = [c for c in clips if c["kind"] in NEGATIVE_KINDS]
    if negatives:
        print_calibration(negatives, index)
    return {
        "part": part,
        "header": header,
        "engine": real_engine.engine_version(index),
        "catalog": loaded,
        # the index version's stored calibration (per-lane leave-one-out maxima and tails), so the
        # false-alarm chances in `clips` can be studied against the null they came from
        "calibration": index.meta.get("calibration"),
        "rows": rows,
        "clips": clips,
    }


def run(args) -> None:
    parts = ("tuning", "reporting") if args.part == "all" else (args.part,)
    kinds = set(filter(None, args.kinds.split(",")))
    results = []
    # One scratch database and MEDIA_ROOT for the run; each part is its own label and index.
    scratch = real_engine.scratch_django("stemma-real-quality-")
    try:
        for part in parts:
            results.append(run_part(part, args.workdir.resolve(), kinds, args.limit))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if len(results) > 1:
        for r in results:
            print_table(r["header"], r["rows"], r["clips"])
    if args.json:
        args.json.write_text(json.dumps(jsonable({"parts": results}), indent=1))
        print(f"per-clip results: {args.json}")
