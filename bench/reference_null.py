"""Fit the reference null of every lane (fingerprinting.engine.config.CalibrationConfig.reference_tail)
on the real corpus's TUNING part: how strong a run unrelated real music gets against a catalog it
shares nothing with.

The tuning part's catalog (supertux-data) is imported and indexed through the production services, each
of its unrelated clips (`negative` and `negative_edited`, hedgewars-data) is run through every lane with
nothing excluded, and per lane the best score of each clip is fitted with the same exponential tail the
per-index calibration uses (engine.calibration.tail_fit). It prints the config tuple to paste, and the
tail of each lane for the record. Never run it on the reporting part: the reporting part measures.

    DEBUG=1 .venv/bin/python bench/reference_null.py --workdir /work/bench
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_engine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=real_engine.ROOT / "var" / "bench")
    args = parser.parse_args()
    part = args.workdir / "parts" / "tuning"
    manifest = json.loads((part / "manifest.json").read_text())
    scratch = real_engine.scratch_django("stemma-reference-null-")
    try:
        from fingerprinting.audio import load_for_analysis
        from fingerprinting.engine import pipeline
        from fingerprinting.engine.calibration import tail_fit
        from fingerprinting.services import ENGINE_CONFIG

        label = real_engine.label_create("reference-null")
        real_engine.catalog_load(
            label=label, csv_path=part / "catalog" / "catalog.csv", audio_dir=part / "catalog" / "audio"
        )
        index = real_engine.current_index(label)
        negatives = [name for name, clip in manifest["clips"].items() if not clip["truth"]]
        best: dict[str, list[float]] = {}
        for name in negatives:
            samples = load_for_analysis(part / name, min_seconds=1.0, max_seconds=600.0)
            for lane, scores in pipeline.lane_scores(index, samples, frozenset(), ENGINE_CONFIG).items():
                best.setdefault(lane, []).append(max((s.best for s in scores.values()), default=-np.inf))
        print(
            f"tuning part: {len(negatives)} unrelated clips against {index.n_recordings} catalog recordings"
        )
        print("reference_tail = (")
        for lane, values in best.items():
            finite = [v for v in values if np.isfinite(v)]
            prior = ENGINE_CONFIG.lanes_calibrated()[
                lane
            ]  # the composition lane's: ENGINE_COMPOSITION_LANE=1
            null = tail_fit(lane, finite, len(values), index.n_recordings, ENGINE_CONFIG.calibration, prior)
            top = ", ".join(f"{v:.2f}" for v in sorted(finite)[-3:])
            print(
                f'    ("{lane}", {null.tail_start:.3f}, {null.tail_exceed:.4f}, {null.tail_scale:.3f}),'
                f"  # {len(finite)} of {len(values)} clips with a score, top {top}"
            )
        print(f")\nreference_catalog_size = {index.n_recordings}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
