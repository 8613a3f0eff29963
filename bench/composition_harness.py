"""Per-clip figures of the composition lane, cached once, so that a variant of its *statistic* can be
scored on the tuning part in seconds instead of a probe or bench run per variant. A diagnostic: it
changes nothing in the engine and calls the lane's own steps (engine.composition) with the lane's
configuration.

Cached per clip (`--cache FILE`, JSON), for every recording the lane would align as a candidate (the
true source added for a positive clip): its z, lead and score as the lane computes them, and the
*phrases*: the (rescaled) clip cut into phrases of `WINDOW_FRAMES` frames, each aligned on its own with
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
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_engine  # noqa: E402

POSITIVE_KINDS = ("same_key_tempo", "key_tempo_changed", "melody_only", "bass_only")
WINDOW_FRAMES = 24  # 4.5 s, a phrase (the lane's patch length)


def window_agreement(scaled: np.ndarray, recording: np.ndarray, al) -> list[dict]:
    """Per sounding phrase of the clip `scaled` (at the run's tempo, normalised): its own best alignment
    score with `recording` at tempo 1, that score's mean and spread over offsets, and its cosine at the
    run `al`."""
    from fingerprinting.engine import alignment

    rotated = np.roll(recording, -al.transpose, axis=1)
    starts = [
        a
        for a in range(0, len(scaled) - WINDOW_FRAMES + 1, WINDOW_FRAMES)
        if np.any(scaled[a : a + WINDOW_FRAMES])
    ]
    if not starts:
        return []
    windows = np.stack([scaled[a : a + WINDOW_FRAMES] for a in starts])
    own, typical, spread = alignment.best_window_scores(windows, recording)
    out = []
    for window, start, best, mean, sd in zip(windows, starts, own, typical, spread, strict=True):
        at = np.arange(WINDOW_FRAMES) + al.offset_frames + start
        inside = (at >= 0) & (at < len(recording))
        at_run = float(np.sum(window[inside] * rotated[at[inside]]) / WINDOW_FRAMES)
        out.append({"own": float(best), "at_run": at_run, "typical": float(mean), "spread": float(sd)})
    return out


def clip_figures(samples: np.ndarray, index, config, source: int | None) -> dict:
    from fingerprinting.engine import alignment, composition
    from fingerprinting.engine.lanes import ClipFeatures

    chroma = ClipFeatures(samples, config, index.embedder).segments.chroma
    lane = config.composition
    retrieved = composition.retrieve(index, chroma, lane, frozenset())
    pool = ([source] if source is not None else []) + [p for p in retrieved if p != source]
    result = composition.align_candidates(index, chroma, pool, lane, frozenset())
    rows = []
    for i, position in enumerate(result.candidates):
        al = result.alignments[i]
        scaled = (
            alignment.normalise_frames(alignment.rescale_time(chroma, al.tempo_step))
            if al.tempo_step != 1.0
            else chroma
        )
        rows.append(
            {
                "position": position,
                "retrieved": position in retrieved,
                "z": float(result.z[i]),
                "lead": float(result.lead[i]),
                "score": float(result.score[i]),
                "cosine": al.score,
                "windows": window_agreement(scaled, index.recording_chroma(position), al),
            }
        )
    return {"source": source, "null_mean": result.null_mean, "null_sd": result.null_sd, "candidates": rows}


def collect(workdir: Path, part: str, source: str) -> list[dict]:
    from catalog.models import Label
    from fingerprinting import engine
    from fingerprinting.audio import decode, load_for_analysis

    base = workdir / "reperformance" / part / source
    manifest = json.loads((base / "manifest.json").read_text())
    slug = f"composition-harness-{source}"
    label = Label.objects.filter(slug=slug).first()
    if label is None:
        label = real_engine.label_create(slug)
        real_engine.catalog_load(
            label=label,
            csv_path=workdir / manifest["catalog_csv"],
            audio_dir=workdir / manifest["catalog_audio"],
        )
    index = real_engine.current_index(label)
    config = engine.DEFAULT_CONFIG
    from dataclasses import replace

    config = replace(config, composition=replace(config.composition, enabled=True))
    positions = {r["isrc"]: i for i, r in enumerate(index.recordings)}
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
    """Phrases holding at the candidate's alignment at `tolerance` (composition.phrases_agreeing's rule)."""
    return sum(1 for w in candidate["windows"] if w["own"] > 0 and w["at_run"] >= tolerance * w["own"])


def reference_floor(scores: list[float]) -> float:
    """The score a 20 s clip needs under the exponential tail `bench/reference_null.py` fits to these
    best scores of unrelated clips (engine.calibration.tail_fit with the composition prior, the top
    clip put at its rank as CompositionConfig.reference_tail is), against a catalog of the same size."""
    values = np.sort(scores)
    start = values[int(np.floor(0.8 * len(values)))]
    tail = values[values >= start]
    scale = (len(tail) * float(np.median(tail - start)) / np.log(2.0) + 2 * 1.4) / (len(tail) + 2)
    if 0.2 * np.exp(-(values[-1] - start) / scale) < 1 / len(values):
        scale = (values[-1] - start) / np.log(0.2 * len(values))
    return float(start + scale * np.log(0.2 / 0.002))


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
