"""Per-clip figures of the composition lane, cached once, so that a variant of its *statistic* can be
scored on the tuning part in seconds instead of a probe or bench run per variant. A diagnostic: it
changes nothing in the engine and calls the lane's own steps (engine.composition) with the lane's
configuration.

Cached per clip (`--cache FILE`, JSON), for every recording the lane would align as a candidate (the
true source added for a positive clip): its z, lead and score as the lane computes them, and the
*phrases*: the (rescaled) clip cut into phrases of `phrase_frames` frames (composition.phrase_figures), each aligned alone with
the recording at the run's tempo (every offset, the 12 transpositions): its own best score, the mean and
spread of its best score per offset, and its cosine at the run's alignment. A re-performance follows its
source phrase after phrase, so each phrase is about as close to the recording at the run's alignment as
anywhere; an unrelated clip's best whole-clip alignment is a compromise its phrases mostly leave. The
report scores variants of the phrase term (composition.phrases_agreeing) from the cache.

Clips: the re-performance corpus's positives and re-rendered negatives (`bench/reperformance_corpus.py`)
of the part, and, for the real source, the real corpus's plain unrelated clips of the part (the ones
`bench/reference_null.py` fits the lane's reference floor on), against the same catalog.

    DEBUG=1 .venv/bin/python bench/composition_harness.py --workdir /work/bench --scratch DIR --cache F
    DEBUG=1 .venv/bin/python bench/composition_harness.py --cache F --report   (no engine; the table)

Never run it on `--part reporting` for a choice: the reporting part measures.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_engine  # noqa: E402
from composition_probe import lane_catalog  # noqa: E402

POSITIVE_KINDS = ("same_key_tempo", "key_tempo_changed", "melody_only", "bass_only")


def clip_figures(samples: np.ndarray, index, config, source: int | None) -> dict:
    from fingerprinting.engine import composition
    from fingerprinting.engine.lanes import ClipFeatures

    chroma = ClipFeatures(samples, config, index.embedder).segments.chroma
    lane = config.composition
    retrieved = composition.retrieve(index, chroma, lane, frozenset())
    pool = ([source] if source is not None else []) + [p for p in retrieved if p != source]
    result = composition.align_candidates(index, chroma, pool, lane, frozenset())
    rows = []
    for i, position in enumerate(result.candidates):
        al = result.alignments[i]
        phrases = composition.phrase_figures(chroma, index.recording_chroma(position), al, lane)
        rows.append(
            {
                "position": position,
                "retrieved": position in retrieved,
                "z": float(result.z[i]),
                "lead": float(result.lead[i]),
                "score": float(result.score[i]),
                "cosine": al.score,
                "windows": [dataclasses.asdict(phrase) for phrase in phrases],
            }
        )
    return {"source": source, "null_mean": result.null_mean, "null_sd": result.null_sd, "candidates": rows}


def collect(workdir: Path, part: str, source: str) -> list[dict]:
    from fingerprinting.audio import decode, load_for_analysis

    base, manifest, index, config, positions = lane_catalog(
        workdir, part, source, f"composition-harness-{source}"
    )
    out = []
    for file, clip in manifest["clips"].items():
        if clip["kind"] in POSITIVE_KINDS:
            truth = positions[clip["source"]["isrc"]]
        elif clip["kind"] == "unrelated_reperformed":
            truth = None
        else:
            continue
        out.append(
            {"file": file, "kind": clip["kind"], **clip_figures(decode(base / file), index, config, truth)}
        )
        print(source, file, flush=True)
    if source == "real":
        plain = workdir / "parts" / part
        clips = json.loads((plain / "manifest.json").read_text())["clips"]
        for name, clip in clips.items():
            if clip["truth"]:
                continue
            samples = load_for_analysis(plain / name, min_seconds=1.0, max_seconds=600.0)
            out.append({"file": name, "kind": "plain_negative", **clip_figures(samples, index, config, None)})
            print(source, name, flush=True)
    return out


def held(candidate: dict, tolerance: float) -> int:
    """Phrases following at the candidate's alignment at `tolerance` (composition.phrase_follows)."""
    from fingerprinting.engine import composition
    from fingerprinting.engine.config import CompositionConfig

    config = CompositionConfig(phrase_tolerance=tolerance)
    return sum(composition.phrase_follows(composition.Phrase(**w), config) for w in candidate["windows"])


def reference_floor(scores: list[float]) -> float:
    """The score a 20 s clip needs at the evidence bound under the tail `bench/reference_null.py` fits
    to these best scores of unrelated clips (engine.calibration.tail_fit with the lane's prior), the top
    clip put at its rank as CompositionConfig.reference_tail is, against the catalog it was fitted on (the
    size only scales the chance against other catalogs: 1 stands for it)."""
    from fingerprinting import engine
    from fingerprinting.engine.calibration import tail_fit

    config = engine.DEFAULT_CONFIG
    null = tail_fit("composition", scores, len(scores), 1, config.calibration, config.composition.prior_tail)
    top = max(scores)
    if null.tail_exceed * np.exp(-(top - null.tail_start) / null.tail_scale) < 1 / len(scores):
        at_rank = (top - null.tail_start) / np.log(null.tail_exceed * len(scores))
        null = dataclasses.replace(null, tail_scale=float(at_rank))
    return null.score_for(config.evidence.max_false_alarm, duration=20.0, catalog_size=1)


def report(data: dict[str, list[dict]]) -> None:
    """Per variant (the phrase term's tolerance and weight; "none" is z + lead alone), the floor fitted
    on the real plain negatives as the reference tail is, and per source and positive kind the clips
    whose true source is ranked first at or over it, and the re-rendered negatives over it."""
    print(
        "variant             floor   synth: same key/key+tempo/melody/bass, negatives over   real: the same"
    )
    for tolerance, weight in [(0.0, 0.0)] + [(t, w) for t in (0.7, 0.8, 0.9) for w in (1.0, 1.5, 2.0)]:

        def score(c: dict, tolerance=tolerance, weight=weight) -> float:
            return c["z"] + c["lead"] + (weight * held(c, tolerance) if weight else 0.0)

        plain = [
            max(score(c) for c in clip["candidates"])
            for clip in data.get("real", [])
            if clip["kind"] == "plain_negative"
        ]
        floor = reference_floor(plain) if plain else float("nan")
        cells = []
        for clips in data.values():
            counts = []
            for kind in POSITIVE_KINDS:
                hits = 0
                for clip in (c for c in clips if c["kind"] == kind):
                    best, position = max((score(c), c["position"]) for c in clip["candidates"])
                    hits += position == clip["source"] and best >= floor
                counts.append(str(hits))
            over = sum(
                1
                for clip in clips
                if clip["kind"] == "unrelated_reperformed"
                and max((score(c) for c in clip["candidates"]), default=-np.inf) >= floor
            )
            cells.append(f"{'/'.join(counts):12s} {over:3d}")
        name = "none" if not weight else f"{tolerance:g} x {weight:g}"
        print(f"{name:18s} {floor:6.2f}   " + "     ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--part", choices=("tuning", "reporting"), default="tuning")
    parser.add_argument("--source", choices=("synth", "real", "all"), default="all")
    parser.add_argument("--scratch", type=Path)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--report", action="store_true", help="only read the cache and print the table")
    args = parser.parse_args()
    if not args.report:
        real_engine.scratch_django("stemma-composition-harness-", args.scratch)
        data = json.loads(args.cache.read_text()) if args.cache.exists() else {}
        for source in ("synth", "real") if args.source == "all" else (args.source,):
            data[source] = collect(args.workdir.resolve(), args.part, source)
            args.cache.write_text(json.dumps(data))
    report(json.loads(args.cache.read_text()))


if __name__ == "__main__":
    main()
