"""How far a lane's leave-one-out calibration moves with its query draw, and which tail fit moves less.

An index version calibrates each lane on 240 leave-one-out queries (engine.calibration), seeded by the
version's name, so a new version of the same catalog draws other queries; at the evidence bound the
tail rests on a few dozen query maxima, and one redraw moved the Chromaprint lane's scale by 2x
(docs/attribution.md, Known limits). This bench imports a part's catalog once, runs the leave-one-out
observation with `--draws` seeds (each one index version's worth of queries), caches the observations,
and reports per lane and tail fit the score at the evidence bound for a 20 s clip (the catalog's own
null alone, and with the reference tail as attributions use it), over the draws: median, range, and
the median distance to the same fit on every draw's queries at once (the best estimate there is).

    DEBUG=1 .venv/bin/python bench/calibration_stability.py --workdir /work/bench --draws 8 --cache F
    DEBUG=1 .venv/bin/python bench/calibration_stability.py --cache F --report   (no engine; the table)

The queries are cut as the engine's configuration says (CalibrationConfig: per_recording,
max_per_recording, max_queries); `--combine k` also fits every k draws together, the spread a k times
larger plan would have (a range over fewer fits is narrower by itself: compare the sd).
Choose on `--part tuning`; the reporting part measures.
"""

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_engine  # noqa: E402

CLIP_SECONDS = 20.0  # the speed and quality benches' typical generated clip


def observe_draws(part_dir: Path, draws: int, scratch: Path | None) -> dict:
    """Import the part's catalog, then the leave-one-out observations of `draws` query draws."""
    folder = real_engine.scratch_django("stemma-calibration-stability-", scratch)
    try:
        from fingerprinting.engine import pipeline
        from fingerprinting.engine.calibration import observe
        from fingerprinting.services import ENGINE_CONFIG, index_audio

        manifest = json.loads((part_dir / "manifest.json").read_text())
        label = real_engine.label_create("calibration-stability")
        real_engine.catalog_load(
            label=label,
            csv_path=part_dir / manifest["catalog_csv"],
            audio_dir=part_dir / manifest["catalog_audio"],
        )
        index = real_engine.current_index(label)
        audio = index_audio(index)
        out = {"part": part_dir.name, "catalog_size": index.n_recordings, "draws": []}
        for seed in range(1, draws + 1):
            queries, observed = observe(
                index,
                config=ENGINE_CONFIG,
                audio=audio,
                lane_scores=lambda idx, samples, exclude: pipeline.lane_scores(
                    idx, samples, exclude, ENGINE_CONFIG
                ),
                seed=seed,
            )
            out["draws"].append(
                {"seed": seed, "queries": queries, "observations": [dataclasses.astuple(o) for o in observed]}
            )
            print(f"draw {seed}: {queries} queries, {len(observed)} observations", flush=True)
        return out
    finally:
        if scratch is None:
            shutil.rmtree(folder, ignore_errors=True)


def bounds(observed, queries: int, catalog_size: int, config) -> tuple[dict, int]:
    """Per lane (tail scale, bound score of the catalog's own null, bound score with the reference), and
    the related pairs the fit set aside."""
    from fingerprinting.engine.calibration import Calibration, fit_nulls, reference_nulls

    nulls, related = fit_nulls(observed, queries, catalog_size, config)
    own = Calibration(nulls, catalog_size)
    both = Calibration(nulls, catalog_size, reference_nulls(config.calibration))
    bound = config.evidence.max_false_alarm
    per_lane = {
        lane: (
            null.tail_scale,
            own.score_for(lane, bound, CLIP_SECONDS),
            both.score_for(lane, bound, CLIP_SECONDS),
        )
        for lane, null in nulls.items()
    }
    return per_lane, len(related)


def report(cache: dict, combine: int) -> None:
    from fingerprinting.engine.calibration import Observation
    from fingerprinting.services import ENGINE_CONFIG

    draws = [(d["queries"], [Observation(*row) for row in d["observations"]]) for d in cache["draws"]]
    n = cache["catalog_size"]
    print(
        f"{cache['part']} part: {n} recordings, {len(draws)} draws of {draws[0][0]} queries; evidence "
        f"bound {ENGINE_CONFIG.evidence.max_false_alarm} for a {CLIP_SECONDS:.0f} s clip"
    )
    print(
        f"{'queries':>7} {'lane':14} {'scale med':>9} {'range':>13} {'own bound':>9} {'range':>13} "
        f"{'with ref':>8} {'range':>13} {'sd':>5}  fits  related pairs"
    )
    for size in sorted({1, combine}):
        # k draws at once: a query is (recording, start), and the draws' starts differ
        groups = [draws[i : i + size] for i in range(0, len(draws) - size + 1, size)]
        fits = [
            bounds([o for _q, observed in g for o in observed], sum(q for q, _o in g), n, ENGINE_CONFIG)
            for g in groups
        ]
        pairs = sorted(related for _lanes, related in fits)
        for lane in fits[0][0]:
            scale, own, ref = (np.array([lanes[lane][k] for lanes, _r in fits]) for k in range(3))
            print(
                f"{sum(q for q, _o in groups[0]):7d} {lane:14} {np.median(scale):9.3f} "
                f"{scale.min():6.3f}-{scale.max():6.3f} {np.median(own):9.2f} {own.min():6.2f}-{own.max():6.2f} "
                f"{np.median(ref):8.2f} {ref.min():6.2f}-{ref.max():6.2f} {np.std(ref, ddof=1):5.2f}  "
                f"{len(fits):4d}  {pairs}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=real_engine.ROOT / "var" / "bench")
    parser.add_argument("--part", choices=("tuning", "reporting"), default="tuning")
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--scratch", type=Path, default=None)
    parser.add_argument("--cache", type=Path, required=True, help="observations (JSON), written or read")
    parser.add_argument("--report", action="store_true", help="read --cache and print the table only")
    parser.add_argument("--combine", type=int, default=2, help="also fit this many draws together")
    args = parser.parse_args()
    if not args.report:
        cache = observe_draws(args.workdir / "parts" / args.part, args.draws, args.scratch)
        args.cache.write_text(json.dumps(cache))
        report(cache, args.combine)
        return
    folder = real_engine.scratch_django("stemma-calibration-stability-", args.scratch)
    try:
        report(json.loads(args.cache.read_text()), args.combine)
    finally:
        if args.scratch is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
