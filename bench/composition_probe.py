"""Where the composition lane (issue 12) loses a re-performance: retrieval, alignment or the evidence
floor. A diagnostic on the re-performance corpus (bench/reperformance_corpus.py), not a quality table:
it changes nothing in the engine and calls the lane's own steps (engine.composition) with the lane's
configuration.

For every positive clip of a source (`synth`, `real`) of the part, with its true source S:
1. *Retrieval*: S's rank among `retrieve`'s candidates (the `candidates` the lane aligns; at most half
   the catalog), or "not retrieved";
2. *Alignment*: S aligned with the clip as the lane aligns its candidates, as a z against the clip's own
   null (`align_candidates`, S first among them, so S is scored whether or not retrieval found it);
3. *Ranking*: whether S's z is the best among the retrieved candidates' (S added when missing); S's
   lead, its z over the best z of every other recording aligned (composition.lead_of); and the lane's
   score, z + `lead_weight` x lead.
4. *Which line* (engine.lines): the line S's run would name at that alignment (bass, upper, all),
   counted per kind, with the clip's bass-register share. A melody line alone should read "upper", a
   bass line alone "bass", a whole re-performance "all". And one kind the corpus does not hold, made
   here: each bass-only clip (source A) mixed at equal loudness with the next melody-only clip of
   another source B, a reused bass line under another work's melody: aligned with A it should read
   "bass", with B "upper". An upper line is a melody or chords (`upper_line`, from the pitch classes
   sounding at once, `upper_voices`): a second kind made here, the harmony line of each same-key clip
   rendered alone from its MIDI file as the corpus renders (`harmony_only`, cached beside the corpus),
   should read "chords", the melody-only clips "melody".
For every re-performed unrelated clip (`unrelated_reperformed`), the lane as it runs: its best z, best
lead and best score.
A clip is lost at retrieval when S is not retrieved, and at alignment when S's z, once aligned, is not
the best. The lane's calibration needs an index built with the lane on; this probe reports S's score
against the lane's reference floor alone (`CompositionConfig.reference_tail`, a lower bound on the
evidence threshold), and the medians per kind.

    DEBUG=1 .venv/bin/python bench/composition_probe.py --workdir DIR [--part tuning] [--source synth|real|all]
        [--exact-patches 0 --probe LISTS]   (the approximate patch index, forced on a small catalog)
        [--clip-hop FRAMES]                 (clip patches every FRAMES chroma frames instead of 4)

The default and intended part is tuning; never tune on `--part reporting`.
"""

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_engine  # noqa: E402

POSITIVE_KINDS = ("same_key_tempo", "key_tempo_changed", "melody_only", "bass_only")
HARMONY_KIND = "harmony_only"  # made by this probe from the same-key clips' MIDI files
NEGATIVE_KIND = "unrelated_reperformed"


def reference_bound(config, seconds: float = 20.0) -> float:
    """The lowest composition score (0.1 steps) whose chance under the lane's reference floor alone
    (`CompositionConfig.reference_tail`) is within the evidence bound."""
    from fingerprinting.engine.calibration import LaneNull

    start, exceed, scale = config.composition.reference_tail
    null = LaneNull(
        lane="composition",
        queries=0,
        query_seconds=20.0,
        catalog_size=config.calibration.reference_catalog_size,
        maxima=(),
        tail_start=start,
        tail_exceed=exceed,
        tail_scale=scale,
        method="reference",
    )
    for z in np.arange(start, 40.0, 0.1):
        if (
            null.false_alarm(float(z), duration=seconds, catalog_size=null.catalog_size)
            <= config.evidence.max_false_alarm
        ):
            return float(round(z, 1))
    return float("nan")


def probe_clip(path: Path, clip: dict, index, config, positions: dict[str, int]) -> dict:
    from fingerprinting.audio import decode
    from fingerprinting.engine import composition, lines
    from fingerprinting.engine.lanes import ClipFeatures

    features = ClipFeatures(decode(path), config, index.embedder)
    chroma = features.segments.chroma
    lane = config.composition
    source = positions[clip["source"]["isrc"]]
    retrieved = composition.retrieve(index, chroma, lane, frozenset())
    pool = [source] + [p for p in retrieved if p != source]
    aligned = composition.align_candidates(index, chroma, pool, lane, frozenset())
    z = dict(zip(aligned.candidates, aligned.z.tolist(), strict=True))
    others = [v for p, v in z.items() if p != source]
    line = lines.line_of(features.registers, index.recording_chroma(source), aligned.alignments[0])
    return {
        "kind": clip["kind"],
        "retrieved_rank": retrieved.index(source) + 1 if source in retrieved else None,
        "z": z[source],
        "best_after_alignment": all(z[source] > v for v in others),
        # S's lead over the best other candidate (negative when another aligns better)
        "margin": z[source] - max(others, default=float("nan")),
        # the lane's score: S's z over every other recording aligned, candidates and null
        "lead": float(aligned.lead[0]),
        "score": float(aligned.score[0]),
        "transform": clip.get("transform"),
        "line": line,
    }


def probe_negative(path: Path, clip: dict, index, config) -> dict:
    """The best candidate's z and its lead over the second, for a clip with no catalog source."""
    from fingerprinting.audio import decode
    from fingerprinting.engine import composition
    from fingerprinting.engine.lanes import ClipFeatures

    chroma = ClipFeatures(decode(path), config, index.embedder).segments.chroma
    aligned = composition.align(index, chroma, config.composition, frozenset())
    z = np.sort(aligned.z)[::-1]
    return {
        "kind": clip["kind"],
        "top_z": float(z[0]) if len(z) else float("nan"),
        "margin": float(z[0] - z[1]) if len(z) > 1 else float("nan"),
        "top_lead": float(aligned.lead.max()) if len(aligned.lead) else float("nan"),
        "top_score": float(aligned.score.max()) if len(aligned.score) else float("nan"),
    }


def harmony_clips(base: Path, manifest: dict) -> list[tuple[Path, dict]]:
    """The harmony line of every same-key clip that has one, rendered alone (reperformance_corpus.
    render_midi, bit-for-bit repeatable) into `base`/probe-harmony once: (audio, the clip's entry as
    kind `harmony_only`)."""
    import mido
    from reperformance_corpus import CLIP_SECONDS, render_midi

    folder = base / "probe-harmony"
    folder.mkdir(exist_ok=True)
    out = []
    for file, clip in manifest["clips"].items():
        if clip["kind"] != "same_key_tempo" or not clip.get("notes", {}).get("harmony"):
            continue
        audio = folder / f"{Path(file).stem}.flac"
        if not audio.exists():
            song = mido.MidiFile(base / clip["midi"])
            alone = mido.MidiFile(type=1, ticks_per_beat=song.ticks_per_beat)
            alone.tracks.append(song.tracks[0])  # the tempo track
            alone.tracks += [
                t for t in song.tracks[1:] if any(getattr(m, "name", "") == "harmony" for m in t)
            ]
            midi = audio.with_suffix(".mid")
            alone.save(midi)
            render_midi(midi, audio, CLIP_SECONDS)
        out.append((audio, {**clip, "kind": HARMONY_KIND}))
    return out


def probe_mixed_lines(base: Path, manifest: dict, index, config, positions: dict[str, int]) -> list[dict]:
    """Bass-only clips of A under melody-only clips of another source B (equal RMS): the line named
    at A's alignment and at B's, with each one's z."""
    from fingerprinting.audio import decode
    from fingerprinting.engine import composition, lines
    from fingerprinting.engine.lanes import ClipFeatures

    def clips(kind: str) -> list[tuple[str, dict]]:
        return [(file, clip) for file, clip in manifest["clips"].items() if clip["kind"] == kind]

    bass, melody = clips("bass_only"), clips("melody_only")
    rows = []
    for (bass_file, bass_clip), (melody_file, melody_clip) in zip(
        bass, melody[1:] + melody[:1], strict=False
    ):
        a, b = positions[bass_clip["source"]["isrc"]], positions[melody_clip["source"]["isrc"]]
        if a == b:
            continue
        low, high = decode(base / bass_file), decode(base / melody_file)
        n = min(len(low), len(high))
        mix = sum(x[:n] / (np.sqrt(np.mean(x[:n] ** 2)) + 1e-9) for x in (low, high)) / 4
        features = ClipFeatures(mix.astype(np.float32), config, index.embedder)
        aligned = composition.align_candidates(
            index, features.segments.chroma, [a, b], config.composition, frozenset()
        )
        found = [
            lines.line_of(features.registers, index.recording_chroma(p), al)
            for p, al in zip((a, b), aligned.alignments, strict=True)
        ]
        rows.append(
            {
                "bass_source": found[0]["line"],
                "melody_source": found[1]["line"],
                "melody_upper_line": found[1]["upper_line"],
                "z": aligned.z.tolist(),
            }
        )
    return rows


def report_mixed_lines(rows: list[dict]) -> None:
    if not rows:
        return
    at_a = sum(r["bass_source"] == "bass" for r in rows)
    at_b = sum(r["melody_source"] == "upper" for r in rows)
    credible_a = [r for r in rows if r["z"][0] >= 3]
    credible_b = [r for r in rows if r["z"][1] >= 3]
    print(
        f"mixed (A's bass line under B's melody), {len(rows)} clips: 'bass' at A {at_a} "
        f"({sum(r['bass_source'] == 'bass' for r in credible_a)} of {len(credible_a)} with z(A) >= 3), "
        f"'upper' at B {at_b} ({sum(r['melody_source'] == 'upper' for r in credible_b)} of {len(credible_b)} "
        f"with z(B) >= 3), of which a melody {sum(r['melody_upper_line'] == 'melody' for r in rows)}"
    )


def report(source: str, rows: list[dict], bound: float, candidates: int) -> None:
    print(f"\n{source}: the true source S per positive clip (lane: {candidates} candidates aligned)")
    print(
        "kind                n  retrieved  rank-1@retrieval  S best once aligned  lost@retrieval  lost@alignment  "
        "z(S) median  lead(S) median  score(S) median  score(S)>=floor"
    )
    for kind in POSITIVE_KINDS:
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        retrieved = [r for r in mine if r["retrieved_rank"] is not None]
        best = [r for r in mine if r["best_after_alignment"]]
        lost_retrieval = len(mine) - len(retrieved)
        lost_alignment = sum(1 for r in retrieved if not r["best_after_alignment"])
        z = np.array([r["z"] for r in mine])
        lead = np.array([r["lead"] for r in mine])
        score = np.array([r["score"] for r in mine])
        print(
            f"{kind:18s} {len(mine):2d}  {len(retrieved):9d}  {sum(r['retrieved_rank'] == 1 for r in retrieved):16d}  "
            f"{len(best):19d}  {lost_retrieval:14d}  {lost_alignment:14d}  {np.median(z):11.2f}  "
            f"{np.median(lead):14.2f}  {np.median(score):15.2f}  {int((score >= bound).sum()):15d}"
        )
    report_lines(rows)
    negatives = [r for r in rows if r["kind"] == NEGATIVE_KIND]
    if negatives:
        top, lead = np.array([r["top_z"] for r in negatives]), np.array([r["top_lead"] for r in negatives])
        score = np.array([r["top_score"] for r in negatives])
        print(
            f"{NEGATIVE_KIND}: {len(negatives)} clips, best z median {np.median(top):.2f}, max {top.max():.2f}; "
            f"best lead median {np.median(lead):.2f}, max {lead.max():.2f}; best score median "
            f"{np.median(score):.2f}, p95 {np.quantile(score, 0.95):.2f}, max {score.max():.2f}, >= floor "
            f"{int((score >= bound).sum())}"
        )
    print(
        f"floor: the score at which the lane's reference tail alone reaches the evidence bound ({bound}); the\n"
        "index's own leave-one-out tail (lane on) can only raise it. lost@alignment: retrieved, but another\n"
        "candidate aligns with a higher z. lead: z over the best z of every other recording aligned; score\n"
        "(the lane's): z + lead_weight x lead."
    )


def report_lines(rows: list[dict]) -> None:
    """Per kind, the line S's run names at S's alignment, and the clip's bass-register share."""
    print("which line (engine.lines), at S's alignment:")
    print(
        "kind                n  bass  upper (melody / chords)  all  unknown  bass share q10 / median / q90  "
        "upper voices q10 / median / q90"
    )

    def spread(values: list) -> str:
        values = [v for v in values if v is not None]
        return " / ".join(f"{q:.2f}" for q in np.quantile(values, (0.1, 0.5, 0.9))) if values else "-"

    for kind in (*POSITIVE_KINDS, HARMONY_KIND):
        mine = [r["line"] for r in rows if r["kind"] == kind]
        if not mine:
            continue
        counts = {
            name: sum(1 for found in mine if found["line"] == name)
            for name in ("bass", "upper", "all", "unknown")
        }
        melody = sum(1 for found in mine if found["upper_line"] == "melody")
        print(
            f"{kind:18s} {len(mine):2d}  {counts['bass']:4d}  {counts['upper']:5d} ({melody:2d} / "
            f"{counts['upper'] - melody:2d})        {counts['all']:3d}  {counts['unknown']:7d}  "
            f"{spread([found['bass_share'] for found in mine]):29s}  {spread([found['upper_voices'] for found in mine])}"
        )


def lane_catalog(workdir: Path, part: str, source: str, slug: str, overrides: dict | None = None):
    """The part's re-performance catalog of `source`, imported under label `slug` (reused when the
    scratch database holds it), with the lane's configuration switched on: (clip folder, manifest,
    index, config, position per ISRC). Also bench/composition_harness.py's."""
    base = workdir / "reperformance" / part / source
    manifest = json.loads((base / "manifest.json").read_text())
    from catalog.models import Label
    from fingerprinting import engine

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
    config = replace(config, composition=replace(config.composition, enabled=True, **(overrides or {})))
    positions = {r["isrc"]: i for i, r in enumerate(index.recordings)}
    return base, manifest, index, config, positions


def run_source(workdir: Path, part: str, source: str, overrides: dict) -> list[dict]:
    base, manifest, index, config, positions = lane_catalog(
        workdir, part, source, f"composition-probe-{source}", overrides
    )
    rows = [
        {"file": file, **probe_clip(base / file, clip, index, config, positions)}
        for file, clip in manifest["clips"].items()
        if clip["kind"] in POSITIVE_KINDS
    ]
    rows += [
        {"file": str(path), **probe_clip(path, clip, index, config, positions)}
        for path, clip in harmony_clips(base, manifest)
    ]
    rows += [
        {"file": file, **probe_negative(base / file, clip, index, config)}
        for file, clip in manifest["clips"].items()
        if clip["kind"] == NEGATIVE_KIND
    ]
    limit = min(config.composition.candidates, max(1, index.n_recordings // 2))
    report(f"{part} part, {source} ({index.n_recordings} recordings)", rows, reference_bound(config), limit)
    mixed = probe_mixed_lines(base, manifest, index, config, positions)
    report_mixed_lines(mixed)
    return rows + [{"kind": "mixed_bass_melody", **row} for row in mixed]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--part", choices=("tuning", "reporting"), default="tuning")
    parser.add_argument("--source", choices=("synth", "real", "all"), default="all")
    parser.add_argument("--scratch", type=Path, help="keep the imported catalogs here, and reuse them")
    parser.add_argument("--json", type=Path, help="write the per-clip figures here")
    parser.add_argument(
        "--exact-patches",
        type=int,
        help="override CompositionConfig.exact_patches (0: the approximate index)",
    )
    parser.add_argument("--probe", type=int, help="override CompositionConfig.ivf_probe")
    parser.add_argument(
        "--clip-hop", type=int, help="override CompositionConfig.clip_hop_frames (clip patches' spacing)"
    )
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    folder = real_engine.scratch_django("stemma-composition-probe-", args.scratch)
    try:
        overrides = {
            "exact_patches": args.exact_patches,
            "ivf_probe": args.probe,
            "clip_hop_frames": args.clip_hop,
        }
        overrides = {name: value for name, value in overrides.items() if value is not None}
        results = {}
        for source in ("synth", "real") if args.source == "all" else (args.source,):
            results[source] = run_source(workdir, args.part, source, overrides)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    finally:
        if args.scratch is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
