"""Attribution quality benchmark (issue 3).

Synthesizes a catalog (default 200 recordings of 30-120 s, demo.synth: each seed its own key, mode,
tempo, progression, melody, drums and instruments), indexes it with the production code
(fingerprinting.engine / fingerprinting.index, the same path `index_catalog` and `attribute_files`
use), derives clips with known ground truth and prints, per kind: recall@1, recall@5, share mean
absolute error (over the true recordings plus the remainder) and, for negatives, the rate of clips
given any share >= 0.05.

Unrelated audio (negatives, and the music a recording is mixed under) comes from seeds whose piece
shares no accompaniment with the catalog: demo.synth renders the chords and the bass line from
(tempo, key, mode, progression) alone, so two seeds that agree on those four have the very same
backing track, which is reuse, not a false attribution. Such seeds are skipped (and counted).

Ground truth shares: the time fraction each catalog source is audible, sources heard at the same
time splitting that time equally (a mashup is 0.5 / 0.5 at any level; a recording mixed under
non-catalog audio is 1.0; two recordings one after the other 0.5 / 0.5); negatives have none.
For mashups the table also shows "both@2": both sources among the top two.

    DEBUG=1 .venv/bin/python bench/attribution_quality.py --recordings 200 --clips 20

Use --seed to draw a different catalog and clip set (tune on --seed 1, report on --seed 0).

Real corpus (issue 11), built first by bench/real_corpus.py (see bench/README.md):

    DEBUG=1 .venv/bin/python bench/attribution_quality.py --corpus real [--part tuning|reporting]
        [--workdir DIR] [--json OUT]

imports the part's catalog through the production services into a scratch SQLite database and
MEDIA_ROOT, indexes it, attributes every clip of the part's manifest with
fingerprinting.services.audio_attribute and prints one table per part (columns: bench/real_quality.py).

Re-performance corpus (issue 12), built by bench/reperformance_corpus.py (see bench/README.md):

    DEBUG=1 .venv/bin/python bench/attribution_quality.py --corpus reperformance [--part tuning|reporting|all]
        [--workdir DIR] [--json OUT] [--baseline EARLIER.json] [--no-verbatim-negatives]

prints, for the reporting part unless told otherwise, the re-performance table of the synthesized and of
the real-music catalog (columns: bench/reperformance_quality.py), then the real corpus' own negatives on
the same index (the verbatim table's rows that a composition lane could make worse).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

SR = 22050
BASE_SECONDS = 20.0


def setup_django(media_root: Path) -> None:
    os.environ["MEDIA_ROOT"] = str(media_root)
    os.environ["INDEX_CACHE_DIR"] = str(Path(media_root).parent / "index-cache")  # beside it, not in var/
    import django

    django.setup()


def mp3_roundtrip(x: np.ndarray, kbps: int = 64) -> np.ndarray:
    encode = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "f32le",
            "-ar",
            str(SR),
            "-ac",
            "1",
            "-i",
            "-",
            "-b:a",
            f"{kbps}k",
            "-f",
            "mp3",
            "-",
        ],
        input=x.astype("<f4").tobytes(),
        capture_output=True,
        check=True,
    )
    decode = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "mp3",
            "-i",
            "-",
            "-f",
            "f32le",
            "-ac",
            "1",
            "-ar",
            str(SR),
            "-",
        ],
        input=encode.stdout,
        capture_output=True,
        check=True,
    )
    return np.frombuffer(decode.stdout, dtype="<f4").astype(np.float32)


KINDS = [
    "excerpt_5s",
    "excerpt_10s",
    "excerpt_30s",
    "white_10db",
    "white_0db",
    "pink_10db",
    "pink_0db",
    "mp3_64k",
    "lowpass_3k",
    "reverb",
    "tempo_+5",
    "tempo_-5",
    "tempo_+10",
    "tempo_-10",
    "pitch_+1",
    "pitch_-1",
    "pitch_+2",
    "pitch_-2",
    "speed_+3",
    "speed_-3",
    "mashup_0db",
    "mashup_-6db",
    "mixed_under_6db",
    "sequence",
    "negative",
]
TARGETS = {  # recall@1 targets from issue 3 (mashups: both@2)
    "excerpt_10s": 0.98,
    "excerpt_30s": 0.98,
    "white_10db": 0.98,
    "pink_10db": 0.98,
    "mp3_64k": 0.98,
    "lowpass_3k": 0.98,
    "reverb": 0.98,
    "tempo_+5": 0.95,
    "tempo_-5": 0.95,
    "pitch_+1": 0.95,
    "pitch_-1": 0.95,
    "tempo_+10": 0.9,
    "tempo_-10": 0.9,
    "pitch_+2": 0.9,
    "pitch_-2": 0.9,
    "white_0db": 0.9,
    "pink_0db": 0.9,
    "excerpt_5s": 0.9,
    "mashup_0db": 0.9,
    "mashup_-6db": 0.9,
    "mixed_under_6db": 0.8,
}


class Catalog:
    def __init__(self, n: int, seed: int):
        from demo.synth import piece_spec

        rng = np.random.default_rng(seed)
        self.seeds = [seed * 1_000_003 + 17 * i + 11 for i in range(n)]
        self.durations = [float(rng.uniform(30.0, 120.0)) for _ in range(n)]
        self.backings = {self.backing(piece_spec(s)) for s in self.seeds}
        self.skipped_unrelated = 0

    @staticmethod
    def backing(spec) -> tuple:
        return (spec.tempo_bpm, spec.key_root, spec.mode, spec.progression)

    def unrelated_seed(self, seed: int) -> int:
        """The first seed from `seed` on (in steps of 7,919) whose backing track is not in the catalog."""
        from demo.synth import piece_spec

        while self.backing(piece_spec(seed)) in self.backings:
            self.skipped_unrelated += 1
            seed += 7919
        return seed

    def audio(self, i: int, start: float, seconds: float) -> np.ndarray:
        from demo.synth import synthesize

        full = synthesize(self.seeds[i], min(self.durations[i], start + seconds), sr=SR)
        return full[int(start * SR) : int((start + seconds) * SR)]

    def excerpt(self, i: int, seconds: float, rng) -> np.ndarray:
        start = float(rng.uniform(0.0, max(0.0, self.durations[i] - seconds)))
        return self.audio(i, start, seconds)


def make_clip(kind: str, cat: Catalog, rng: np.random.Generator, neg_seed: int):
    """(samples at SR, {catalog index: true share})"""
    from demo import transforms as T
    from demo.synth import synthesize

    n = len(cat.seeds)
    a, b = (int(x) for x in rng.choice(n, 2, replace=False))
    if kind.startswith("excerpt_"):
        seconds = float(kind.split("_")[1].rstrip("s"))
        return cat.excerpt(a, seconds, rng), {a: 1.0}
    if kind == "negative":
        return synthesize(cat.unrelated_seed(neg_seed), BASE_SECONDS, sr=SR), {}
    if kind == "sequence":
        return np.concatenate([cat.excerpt(a, 10.0, rng), cat.excerpt(b, 10.0, rng)]), {a: 0.5, b: 0.5}
    if kind.startswith("mashup"):
        level = 0.0 if kind == "mashup_0db" else -6.0
        return T.mix(cat.excerpt(a, BASE_SECONDS, rng), cat.excerpt(b, BASE_SECONDS, rng), level), {
            a: 0.5,
            b: 0.5,
        }
    if kind == "mixed_under_6db":
        other = synthesize(cat.unrelated_seed(neg_seed), BASE_SECONDS, sr=SR)
        return T.mix(other, cat.excerpt(a, BASE_SECONDS, rng), -6.0), {a: 1.0}
    x = cat.excerpt(a, BASE_SECONDS, rng)
    if kind.startswith(("white", "pink")):
        colour, snr = kind.split("_")
        return T.add_noise(x, float(snr.rstrip("db")), rng, colour), {a: 1.0}
    if kind == "mp3_64k":
        return mp3_roundtrip(x), {a: 1.0}
    if kind == "lowpass_3k":
        return T.lowpass(x, SR, 3000.0), {a: 1.0}
    if kind == "reverb":
        return T.reverb(x, SR, rng), {a: 1.0}
    amount = float(kind.split("_")[1])
    if kind.startswith("tempo"):
        return T.time_stretch(x, 1.0 + amount / 100.0), {a: 1.0}
    if kind.startswith("pitch"):
        return T.pitch_shift(x, SR, amount), {a: 1.0}
    if kind.startswith("speed"):
        return T.speed_change(x, SR, 1.0 + amount / 100.0), {a: 1.0}
    raise ValueError(kind)


def build_index(cat: Catalog, label_id: int):
    from fingerprinting import engine
    from fingerprinting import index as catalog_index
    from fingerprinting.engine.embedder import get_embedder
    from fingerprinting.engine.signal import ANALYSIS_SR, resample

    embedder = get_embedder()
    config = engine.DEFAULT_CONFIG
    entries = []
    audio_seconds = 0.0
    started = time.perf_counter()
    for i in range(len(cat.seeds)):
        samples = resample(cat.audio(i, 0.0, cat.durations[i]), SR, ANALYSIS_SR)
        audio_seconds += len(samples) / ANALYSIS_SR
        analysis = engine.analyse_recording(
            samples,
            recording_id=i + 1,
            isrc=f"QZBEN{i:07d}",
            title=f"bench {i}",
            embedder=embedder,
            config=config,
        )
        entries.append(
            (
                {
                    "id": i + 1,
                    "isrc": analysis.isrc,
                    "title": analysis.title,
                    "duration": analysis.duration,
                    "sha": str(cat.seeds[i]),
                },
                analysis,
            )
        )
    analysed = time.perf_counter() - started
    catalog_index.write_version(
        label_id=label_id,
        entries=entries,
        standardizer=None,
        embedder=embedder,
        config=config,
        # Leave-one-out calibration over the catalog's own audio, synthesized again per recording.
        finish=lambda index: engine.finish_index(
            index,
            config=config,
            audio=lambda position: resample(
                cat.audio(position, 0.0, cat.durations[position]), SR, ANALYSIS_SR
            ),
        ),
    )
    written = time.perf_counter() - started - analysed
    return catalog_index.open_current(label_id), {
        "audio_seconds": audio_seconds,
        "analyse_seconds": analysed,
        "write_seconds": written,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", choices=["synth", "real", "reperformance"], default="synth")
    parser.add_argument("--recordings", type=int, default=200, help="synth: catalog size")
    parser.add_argument("--clips", type=int, default=20, help="synth: clips per kind")
    parser.add_argument("--negatives", type=int, default=50, help="synth: negative clips")
    parser.add_argument("--seed", type=int, default=0, help="synth: catalog and clip seed")
    parser.add_argument("--kinds", default="", help="comma-separated subset of kinds")
    parser.add_argument("--json", type=Path, help="also write per-clip results here")
    parser.add_argument(
        "--part",
        choices=["tuning", "reporting", "all"],
        help="real: which part (default all); reperformance: which part (default reporting)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=ROOT / "var" / "bench", help="real: real_corpus.py's --workdir"
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="real: at most this many clips per kind (a quick look)"
    )
    parser.add_argument(
        "--baseline", type=Path, help="reperformance: compare clip by clip with an earlier --json"
    )
    parser.add_argument(
        "--source",
        choices=["synth", "real", "all"],
        default="all",
        help="reperformance: which catalog (default both, synthesized first)",
    )
    parser.add_argument(
        "--no-verbatim-negatives",
        action="store_true",
        help="reperformance: skip the real corpus' own negatives",
    )
    args = parser.parse_args()
    if args.corpus == "real":
        import real_quality

        args.part = args.part or "all"
        real_quality.run(args)
    elif args.corpus == "reperformance":
        import reperformance_quality

        reperformance_quality.run(args)
    else:
        main_synth(args)


def main_synth(args) -> None:
    media = Path(tempfile.mkdtemp(prefix="stemma-bench-"))
    setup_django(media)
    import faiss

    faiss.omp_set_num_threads(1)
    from fingerprinting import engine
    from fingerprinting.engine.signal import ANALYSIS_SR, resample

    try:
        cat = Catalog(args.recordings, args.seed)
        index, ingest = build_index(cat, label_id=1)
        print(
            f"catalog: {args.recordings} recordings, {ingest['audio_seconds'] / 3600:.2f} h audio, analysed in "
            f"{ingest['analyse_seconds']:.1f} s ({ingest['audio_seconds'] / ingest['analyse_seconds']:.0f}x real time, "
            f"1 process), index written and calibrated in {ingest['write_seconds']:.1f} s; "
            f"{len(index.calibration.get('related', []))} related pairs, "
            f"{len(index.meta['near_duplicates'])} near-duplicate groups",
            flush=True,
        )
        kinds = [k for k in KINDS if not args.kinds or k in args.kinds.split(",")]
        rows, per_clip = [], []
        for kind in kinds:
            kind_no = KINDS.index(kind)
            rng = np.random.default_rng([args.seed, kind_no, 7])
            count = args.negatives if kind == "negative" else args.clips
            hits1 = hits5 = both2 = false_pos = 0
            maes, times = [], []
            for c in range(count):
                neg_seed = 50_000_000 + args.seed * 10_000 + kind_no * 1000 + c
                samples, truth = make_clip(kind, cat, rng, neg_seed)
                analysis = resample(samples, SR, ANALYSIS_SR)
                started = time.perf_counter()
                result = engine.attribute(index, analysis)
                times.append(time.perf_counter() - started)
                ranked = [s.position for s in result.shares]
                predicted = {s.position: s.share for s in result.shares}
                if truth:
                    hits1 += bool(ranked) and ranked[0] in truth
                    hits5 += all(t in ranked[:5] for t in truth)
                    both2 += all(t in ranked[:2] for t in truth)
                    errors = [abs(predicted.get(t, 0.0) - v) for t, v in truth.items()]
                    errors.append(abs(result.remainder - (1.0 - sum(truth.values()))))
                    maes.append(float(np.mean(errors)))
                else:
                    false_pos += any(v >= 0.05 for v in predicted.values())
                    maes.append(abs(result.remainder - 1.0))
                per_clip.append(
                    {
                        "kind": kind,
                        "truth": truth,
                        "shares": [[s.position, round(s.share, 4), s.lane] for s in result.shares],
                        "remainder": round(result.remainder, 4),
                        "seconds": round(times[-1], 4),
                    }
                )
            rows.append(
                {
                    "kind": kind,
                    "n": count,
                    "recall@1": hits1 / count if kind != "negative" else None,
                    "recall@5": hits5 / count if kind != "negative" else None,
                    "both@2": both2 / count if kind in ("mashup_0db", "mashup_-6db", "sequence") else None,
                    "share_mae": float(np.mean(maes)),
                    "false_rate": false_pos / count if kind == "negative" else None,
                    "median_s": float(np.median(times)),
                }
            )
            r = rows[-1]
            print(format_row(r), flush=True)
        print_table(rows)
        print(f"unrelated seeds skipped for sharing a catalog backing track: {cat.skipped_unrelated}")
        if args.json:
            args.json.write_text(json.dumps({"rows": rows, "clips": per_clip}, indent=1))
    finally:
        shutil.rmtree(media, ignore_errors=True)


def fmt(x) -> str:
    return "   -  " if x is None else f"{x:6.3f}"


def format_row(r: dict) -> str:
    target = TARGETS.get(r["kind"])
    measured = r["both@2"] if r["kind"].startswith("mashup") else r["recall@1"]
    if r["kind"] == "negative":
        verdict = "ok" if r["false_rate"] <= 0.02 else "MISS (<=0.02)"
    elif target is None:
        verdict = ""
    else:
        verdict = "ok" if measured >= target else f"MISS (>={target})"
    if r["kind"].startswith("mashup") and r["share_mae"] > 0.15:
        verdict += " MAE MISS (<=0.15)"
    return (
        f"{r['kind']:<16} {r['n']:>4} {fmt(r['recall@1'])} {fmt(r['recall@5'])} {fmt(r['both@2'])} "
        f"{fmt(r['share_mae'])} {fmt(r['false_rate'])} {r['median_s']:8.3f}  {verdict}"
    )


def print_table(rows: list[dict]) -> None:
    print()
    print(
        f"{'kind':<16} {'n':>4} {'rec@1':>6} {'rec@5':>6} {'both@2':>6} {'MAE':>6} {'false':>6} {'median s':>8}  target"
    )
    for r in rows:
        print(format_row(r))


if __name__ == "__main__":
    main()
