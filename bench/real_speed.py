"""`attribution_speed.py --corpus real`: whole attribution of 20 s real clips, against every real track.

1. Imports DIR/catalog-all (every track >= 30 s of the eight packages, written by real_corpus.py) through
   the production services into a scratch SQLite database and MEDIA_ROOT, and indexes it.
2. Picks --clips 20 s clips of the corpus (both parts, every 20 s kind, seeded) and, clip by clip in the
   same run, measures
   - fpcalc (Debian's libchromaprint-tools, `fpcalc -length 0`: the whole file): its CPU time, read as
     children CPU time with resource.getrusage;
   - whole attribution through fingerprinting.services.audio_attribute (decode + engine): CPU time of
     this process plus its children (ffmpeg, where the decoder uses it).
   One clip is attributed first and not counted (imports, index load).
3. The real catalog has fewer than 300 tracks (138 from the Debian 12 packages). Cutting long tracks into
   several "recordings" would fake a bigger catalog, so the real count is reported as it is, and then,
   separately and labelled as such, the same clips against that catalog topped up to --catalog (300)
   with recordings synthesized by demo.synth (30-120 s, imported and indexed the same way).
Printed per catalog: CPU seconds per clip and real-time factor per core (audio seconds / CPU seconds) at
the median and p90, wall time, the ratio to fpcalc's CPU on the same files, and the medians of the
engine's own per-stage timings (result.timings, as the engine reports them: in engine 1.2.0 landmarks,
spectral and verbatim are cumulative from the start of the engine, embed and style are not).
"""

import csv
import io
import json
import shutil
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import real_engine

CLIP_SECONDS = 20.0


def pick_clips(workdir: Path, count: int, seed: int) -> list[Path]:
    files = []
    for part in ("tuning", "reporting"):
        manifest = workdir / "parts" / part / "manifest.json"
        if not manifest.exists():
            raise SystemExit(f"{manifest} is missing: run bench/real_corpus.py --workdir {workdir} first")
        for file, clip in json.loads(manifest.read_text())["clips"].items():
            if clip["seconds"] == CLIP_SECONDS:
                files.append(workdir / "parts" / part / file)
    rng = np.random.default_rng(seed)
    return [files[i] for i in sorted(rng.choice(len(files), min(count, len(files)), replace=False))]


def measure(label, clips: list[Path]) -> dict:
    real_engine.attribute(label=label, path=clips[0])  # warm-up, not counted
    rows = []
    for path in clips:
        fp = real_engine.fpcalc_cpu(path)
        outcome = real_engine.attribute(label=label, path=path)
        if outcome.error:
            raise RuntimeError(f"{path} refused: {outcome.error}")
        rows.append({"fpcalc": fp, "cpu": outcome.cpu_seconds, "wall": outcome.wall_seconds,
                     "seconds": outcome.duration, "timings": outcome.timings})  # fmt: skip
    return {"rows": rows}


def report(title: str, measured: dict) -> None:
    rows = measured["rows"]
    cpu = np.array([r["cpu"] for r in rows])
    fp = np.array([r["fpcalc"] for r in rows])
    seconds = float(np.median([r["seconds"] for r in rows]))
    rtf = np.array([r["seconds"] for r in rows]) / cpu
    print(f"\n{title}")
    print(f"  {len(rows)} clips of {seconds:.0f} s (decode + engine through audio_attribute, one process)")
    print(
        f"  CPU per clip: median {np.median(cpu):.3f} s, p90 {np.quantile(cpu, 0.9):.3f} s; wall median "
        f"{np.median([r['wall'] for r in rows]):.3f} s"
    )
    print(
        f"  real time per core: median {np.median(rtf):.1f}x, p90 (slowest 10 %) {np.quantile(rtf, 0.1):.1f}x "
        f"(issue 11 target >= 100x)"
    )
    print(
        f"  fpcalc -length 0 on the same files: median {np.median(fp) * 1000:.1f} ms CPU; attribution / fpcalc: "
        f"{np.median(cpu) / np.median(fp):.1f}x (medians), {cpu.sum() / fp.sum():.1f}x (totals)"
    )
    stages = defaultdict(list)
    for r in rows:
        for k, v in r["timings"].items():
            stages[k].append(v)
    print("  engine timings, medians (s, as result.timings reports them): " + ", ".join(
        f"{k} {np.median(v):.3f}" for k, v in stages.items()))  # fmt: skip


def synth_top_up(scratch: Path, count: int, seed: int) -> tuple[Path, Path, float]:
    """`count` recordings synthesized by demo.synth (30-120 s), written as WAV with a catalog CSV."""
    from catalog.importer import COLUMNS
    from demo.synth import synthesize, write_wav

    audio = scratch / "synth-audio"
    audio.mkdir()
    rng = np.random.default_rng(seed)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    total = 0.0
    for n in range(count):
        seconds = float(rng.uniform(30.0, 120.0))
        isrc = f"QZSYN24{n + 1:05d}"
        write_wav(audio / f"{isrc}.wav", synthesize(91_000_000 + seed * 10_000 + n, seconds, sr=22050), 22050)
        total += seconds
        writer.writerow({"isrc": isrc, "title": f"Synthesized {n + 1}", "display_artist": "demo.synth",
                         "duration_seconds": f"{seconds:.1f}", "audio_file": f"{isrc}.wav"})  # fmt: skip
    path = scratch / "synth.csv"
    path.write_text(buffer.getvalue())
    return path, audio, total


def run(args) -> None:
    workdir = args.workdir.resolve()
    catalog_csv = workdir / "catalog-all" / "catalog.csv"
    if not catalog_csv.exists():
        raise SystemExit(f"{catalog_csv} is missing: run bench/real_corpus.py --workdir {workdir} first")
    clips = pick_clips(workdir, args.clips, args.seed)
    kept = getattr(args, "scratch", None)
    scratch = real_engine.scratch_django("stemma-real-speed-", kept)
    try:
        from catalog.models import Label

        label = Label.objects.filter(slug="bench-speed").first()
        if label is not None:  # a kept scratch folder: the catalog as the last run left it
            index = real_engine.current_index(label)
            print(f"catalog reused from {scratch}: {index.n_recordings} recordings; engine "
                  f"{real_engine.engine_version(index)}", flush=True)  # fmt: skip
            report(f"catalog of {index.n_recordings} recordings (reused; the real ones first, then any "
                   "SYNTHESIZED top-up)", measure(label, clips))  # fmt: skip
            return
        label = real_engine.label_create("bench-speed")
        loaded = real_engine.catalog_load(
            label=label, csv_path=catalog_csv, audio_dir=workdir / "catalog-all" / "audio"
        )
        index = real_engine.current_index(label)
        real_count = index.n_recordings
        print(
            f"real catalog: {real_count} recordings (every track >= 30 s of the eight Debian packages, both parts), "
            f"imported and indexed in {loaded['seconds']:.0f} s; engine {real_engine.engine_version(index)}",
            flush=True,
        )
        report(f"catalog of {real_count} REAL recordings (fewer than 300: no more real tracks in the packages)",
               measure(label, clips))  # fmt: skip
        if args.catalog > real_count:
            t0 = time.perf_counter()
            csv_path, audio, seconds = synth_top_up(scratch, args.catalog - real_count, args.seed)
            synthesized = time.perf_counter() - t0
            more = real_engine.catalog_load(label=label, csv_path=csv_path, audio_dir=audio)
            index = real_engine.current_index(label)
            print(
                f"\ntopped up with {args.catalog - real_count} recordings SYNTHESIZED by demo.synth "
                f"({seconds / 3600:.2f} h, synthesized in {synthesized:.0f} s, imported and indexed in "
                f"{more['seconds']:.0f} s): {index.n_recordings} recordings",
                flush=True,
            )
            report(
                f"catalog of {index.n_recordings} recordings = {real_count} real + "
                f"{index.n_recordings - real_count} SYNTHESIZED (demo.synth), same clips",
                measure(label, clips),
            )
    finally:
        if kept is None:
            shutil.rmtree(scratch, ignore_errors=True)
