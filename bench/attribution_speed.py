"""Attribution speed benchmark (issue 3).

1. Catalog ingest: decode + Chromaprint + landmarks + window descriptors + alignment chroma of
   synthesized recordings (30-120 s), as real time factor per core (one process).
2. End to end attribution of 30 s clips (WAV file -> decode -> all lanes -> shares) against catalogs
   of 1,000 and 10,000 recordings: clips per second per core and real time factor (medians).
   Synthesizing and analysing 10,000 recordings takes hours on a laptop core, so the large catalogs
   are built from --real analysed recordings, each replicated with its fingerprints and landmark
   hashes XOR-ed by a per-replica random mask, its descriptors jittered and its chroma transposed and
   shifted: the index has the size, posting-list lengths and candidate counts of a real catalog of
   that size, though not its musical variety. Clips are excerpts of the real recordings.
3. FAISS at 1,000,000 segments of synthetic vectors with the statistics of real ones (50,000
   "recordings" of 20 segments: centres from a Gaussian fitted to real recordings' mean embeddings,
   segments scattered with the real within-recording covariance): p50 query latency (one thread) and
   recall@10 against exact search for the exact index and IVF at several nprobe, and index memory per
   million segments.

    DEBUG=1 .venv/bin/python bench/attribution_speed.py

Index shards (issue 17; bench/shard_speed.py says how the 2M-segment index is synthesized): query
latency (median, p90) and memory per worker at each shard count,

    DEBUG=1 .venv/bin/python bench/attribution_speed.py --shards 1 2 4 [--shard-segments 2000000]

Real corpus (issue 11; build it first with bench/real_corpus.py, see bench/README.md): whole attribution
of 20 s real clips against every real track, with fpcalc's CPU on the same files for scale:

    DEBUG=1 .venv/bin/python bench/attribution_speed.py --corpus real [--workdir DIR] [--clips 40]
"""

import argparse
import os
import shutil
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


def setup(media: Path) -> None:
    os.environ["MEDIA_ROOT"] = str(media)
    # In the scratch folder (not var/), so that it goes with it: the indexes' storage names start with
    # attribution/, so the cache cannot collide with them.
    os.environ["INDEX_CACHE_DIR"] = str(Path(media) / "index-cache")
    import django

    django.setup()


def cpu() -> float:
    return time.process_time()


def ingest(real: int, workdir: Path, seed: int):
    from demo.synth import synthesize, write_wav
    from fingerprinting import engine
    from fingerprinting.audio import decode
    from fingerprinting.engine.embedder import get_embedder

    embedder = get_embedder()
    rng = np.random.default_rng(seed)
    analyses, audio_seconds, cpu_seconds, wall_seconds, rtf = [], 0.0, 0.0, 0.0, []
    for i in range(real):
        seconds = float(rng.uniform(30, 120))
        path = workdir / f"rec-{i}.wav"
        write_wav(path, synthesize(seed * 7919 + i, seconds, sr=SR), SR)
        c0, w0 = cpu(), time.perf_counter()
        samples = decode(path)
        analysis = engine.analyse_recording(
            samples,
            recording_id=i + 1,
            isrc=f"QZSPD{i:07d}",
            title=f"r{i}",
            embedder=embedder,
            config=engine.DEFAULT_CONFIG,
        )
        c1, w1 = cpu() - c0, time.perf_counter() - w0
        analyses.append((path, analysis))
        audio_seconds += seconds
        cpu_seconds += c1
        wall_seconds += w1
        rtf.append(seconds / c1)
    return analyses, {
        "audio_seconds": audio_seconds,
        "cpu_seconds": cpu_seconds,
        "wall_seconds": wall_seconds,
        "rtf_median": float(np.median(rtf)),
    }


def replicate(analysis, replica: int, new_id: int):
    from fingerprinting.engine import RecordingAnalysis
    from fingerprinting.engine.embedder import Segments

    if replica == 0:
        return RecordingAnalysis(
            recording_id=new_id,
            isrc=f"QZREP{new_id:07d}",
            title=analysis.title,
            duration=analysis.duration,
            fingerprint=analysis.fingerprint,
            segments=analysis.segments,
            landmark_hashes=analysis.landmark_hashes,
            landmark_times=analysis.landmark_times,
        )
    rng = np.random.default_rng([replica, new_id])
    mask32 = np.uint32(rng.integers(1, 2**32 - 1))
    mask23 = np.uint32(rng.integers(1, 2**23 - 1))
    seg = analysis.segments
    raw = (
        seg.raw
        + rng.normal(0, 1, seg.raw.shape).astype(np.float32) * seg.raw.std(axis=0, keepdims=True) * 0.5
    )
    chroma = np.roll(
        np.roll(seg.chroma, int(rng.integers(1, 12)), axis=1), int(rng.integers(0, len(seg.chroma))), axis=0
    )
    return RecordingAnalysis(
        recording_id=new_id,
        isrc=f"QZREP{new_id:07d}",
        title=f"{analysis.title}/{replica}",
        duration=analysis.duration,
        fingerprint=analysis.fingerprint ^ mask32,
        segments=Segments(
            starts=seg.starts, ends=seg.ends, raw=raw.astype(np.float32), chroma=chroma.astype(np.float32)
        ),
        landmark_hashes=analysis.landmark_hashes ^ mask23,
        landmark_times=analysis.landmark_times,
    )


def attribution_speed(analyses, size: int, clips: int, workdir: Path, label_id: int) -> dict:
    from demo.synth import synthesize, write_wav
    from fingerprinting import engine
    from fingerprinting import index as catalog_index
    from fingerprinting.audio import load_for_analysis
    from fingerprinting.engine.embedder import get_embedder

    embedder = get_embedder()
    entries = []
    real = len(analyses)
    for n in range(size):
        path, analysis = analyses[n % real]
        copy = replicate(analysis, n // real, n + 1)
        entries.append(
            (
                {
                    "id": n + 1,
                    "isrc": copy.isrc,
                    "title": copy.title,
                    "duration": copy.duration,
                    "sha": str(n),
                },
                copy,
            )
        )
    w0 = time.perf_counter()
    catalog_index.write_version(
        label_id=label_id,
        entries=entries,
        standardizer=None,
        embedder=embedder,
        config=engine.DEFAULT_CONFIG,
        # Leave-one-out over the synthesized originals' audio (a replica's fingerprints are scrambled,
        # so an original's excerpt does not match its replicas: they stand for unrelated recordings).
        finish=lambda index: engine.finish_index(
            index,
            config=engine.DEFAULT_CONFIG,
            audio=lambda position: load_for_analysis(
                analyses[position % real][0], min_seconds=0.0, max_seconds=3600.0
            ),
        ),
    )
    build_seconds = time.perf_counter() - w0
    index = catalog_index.open_current(label_id)
    rng = np.random.default_rng(size)
    import soundfile

    from demo.synth import SAMPLE_RATE  # noqa: F401

    cpu_times, wall_times = [], []
    for c in range(clips):
        path, analysis = analyses[int(rng.integers(real))]
        if c % 5 == 4:  # every fifth clip is unrelated: the slow path (every lane runs to the end)
            samples = synthesize(77_000_000 + c, 30.0, sr=SR)
        else:
            audio, sr = soundfile.read(path, dtype="float32")
            start = int(rng.uniform(0, max(1, len(audio) / sr - 30)) * sr)
            samples = audio[start : start + 30 * sr]
        clip_path = workdir / f"clip-{size}-{c}.wav"
        write_wav(clip_path, samples, SR)
        c0, w0 = cpu(), time.perf_counter()
        decoded = load_for_analysis(clip_path, min_seconds=3.0, max_seconds=600.0)
        engine.attribute(index, decoded)
        cpu_times.append(cpu() - c0)
        wall_times.append(time.perf_counter() - w0)
    return {
        "recordings": size,
        "segments": index.meta["n_segments"],
        "build_seconds": build_seconds,
        "cpu_median": float(np.median(cpu_times)),
        "wall_median": float(np.median(wall_times)),
        "clips_per_second_per_core": 1.0 / float(np.median(cpu_times)),
        "rtf_median": 30.0 / float(np.median(cpu_times)),
        "cpu_p90": float(np.quantile(cpu_times, 0.9)),
    }


def realistic_vectors(real_vectors: np.ndarray, owners: np.ndarray, n: int, per: int, rng) -> np.ndarray:
    """n synthetic segment embeddings with the statistics of real ones: recording centres drawn from a
    Gaussian fitted to the real recordings' mean vectors, segments scattered around their centre with
    the real within-recording residual covariance (both shrunk towards the diagonal)."""
    from shard_speed import recording_gaussians

    dim = real_vectors.shape[1]
    between, within, centre_mean = recording_gaussians(real_vectors, owners)
    centres = centre_mean + rng.standard_normal((n // per, dim)).astype(np.float32) @ between.T
    data = np.repeat(centres, per, axis=0)
    for start in range(0, n, 100_000):
        block = slice(start, min(n, start + 100_000))
        data[block] += rng.standard_normal((block.stop - block.start, dim)).astype(np.float32) @ within.T
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return data, within


def faiss_bench(n: int, real_vectors: np.ndarray, owners: np.ndarray, queries: int, nlist: int) -> list[dict]:
    import faiss

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    dim = real_vectors.shape[1]
    data, within = realistic_vectors(real_vectors, owners, n, 20, rng)
    picks = rng.choice(n, queries, replace=False)
    # A query is a clip window: a catalog segment moved by half a within-recording deviation.
    q = data[picks] + 0.5 * rng.standard_normal((queries, dim)).astype(np.float32) @ within.T
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    ids = np.arange(n, dtype=np.int64)
    results = []

    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    flat.add_with_ids(data, ids)
    _d, truth = flat.search(q, 10)
    lat = []
    for i in range(queries):
        t = time.perf_counter()
        flat.search(q[i : i + 1], 10)
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    flat.search(q[:8], 10)  # a 30 s clip's windows in one batch
    batch8 = time.perf_counter() - t
    results.append(
        {
            "index": "flat (exact IP)",
            "p50_ms": 1000 * float(np.median(lat)),
            "recall@10": 1.0,
            "batch8_ms": 1000 * batch8,
            "bytes_per_million": data.nbytes / n * 1e6 + 8e6,
        }
    )
    del flat

    t = time.perf_counter()
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(data[rng.choice(n, min(n, 64 * nlist), replace=False)])
    ivf.add_with_ids(data, ids)
    train_seconds = time.perf_counter() - t
    for nprobe in (4, 8, 16, 32, 64):
        ivf.nprobe = nprobe
        lat, found = [], []
        for i in range(queries):
            t = time.perf_counter()
            _d, got = ivf.search(q[i : i + 1], 10)
            lat.append(time.perf_counter() - t)
            found.append(len(set(got[0]) & set(truth[i])) / 10)
        results.append(
            {
                "index": f"IVF{nlist},Flat nprobe={nprobe}",
                "p50_ms": 1000 * float(np.median(lat)),
                "recall@10": float(np.mean(found)),
                "batch8_ms": None,
                "bytes_per_million": (data.nbytes + 8 * n + nlist * dim * 4) / n * 1e6,
                "train_s": train_seconds,
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--real", type=int, default=100, help="synthesized and analysed recordings")
    parser.add_argument("--catalogs", default="1000,10000")
    parser.add_argument(
        "--clips", type=int, help="30 s clips per catalog size (default 20; real: 20 s clips, 40)"
    )
    parser.add_argument("--faiss-segments", type=int, default=1_000_000)
    parser.add_argument("--faiss-queries", type=int, default=200)
    parser.add_argument("--nlist", type=int, default=1024)
    parser.add_argument("--skip-faiss", action="store_true")
    parser.add_argument("--skip-catalog", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", choices=["synth", "real"], default="synth")
    parser.add_argument(
        "--workdir", type=Path, default=ROOT / "var" / "bench", help="real: real_corpus.py's --workdir"
    )
    parser.add_argument("--catalog", type=int, default=300, help="real: top the real catalog up to this size")
    parser.add_argument(
        "--scratch",
        type=Path,
        help="real: keep the imported, indexed catalog in this folder and reuse it on the next run (to "
        "re-measure a query-time change without indexing again; delete it after an index change)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        nargs="+",
        help="shard counts to measure (e.g. 1 2 4); only the shard bench runs",
    )
    parser.add_argument("--shard-segments", type=int, default=2_000_000, help="segments of the sharded index")
    parser.add_argument("--shard-worker", type=int, help=argparse.SUPPRESS)  # internal: a measured worker
    parser.add_argument("--shard-index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--shard-clips", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.shard_worker is not None:
        import json

        import django

        django.setup()
        import shard_speed

        print(json.dumps(shard_speed.worker(args.shard_worker, args.shard_index, args.shard_clips)))
        return
    if args.clips is None:
        args.clips = 40 if args.corpus == "real" else 20
    if args.corpus == "real":
        import real_speed

        real_speed.run(args)
        return

    media = Path(tempfile.mkdtemp(prefix="stemma-speed-"))
    setup(media)
    import faiss

    faiss.omp_set_num_threads(1)
    workdir = media / "work"
    workdir.mkdir()
    try:
        if args.shards:
            import shard_speed

            analyses, _ing = ingest(args.real, workdir, args.seed)
            shard_speed.run(args, analyses, workdir)
            return
        if not args.skip_catalog:
            analyses, ing = ingest(args.real, workdir, args.seed)
            print(
                f"ingest: {args.real} recordings, {ing['audio_seconds'] / 60:.1f} min audio, decode+analysis "
                f"{ing['cpu_seconds']:.1f} CPU s -> {ing['audio_seconds'] / ing['cpu_seconds']:.0f}x real time per core "
                f"(median per recording {ing['rtf_median']:.0f}x; target >= 30x)",
                flush=True,
            )
            for label_id, size in enumerate(int(s) for s in args.catalogs.split(",")):
                r = attribution_speed(analyses, size, args.clips, workdir, label_id + 1)
                print(
                    f"catalog {r['recordings']:>6} recordings / {r['segments']:>7} segments (index build "
                    f"{r['build_seconds']:.1f} s): 30 s clip median {r['cpu_median'] * 1000:.0f} ms CPU "
                    f"({r['wall_median'] * 1000:.0f} ms wall, p90 {r['cpu_p90'] * 1000:.0f} ms) -> "
                    f"{r['clips_per_second_per_core']:.2f} clips/s/core, {r['rtf_median']:.0f}x real time (target >= 30x)",
                    flush=True,
                )
        if not args.skip_faiss:
            from fingerprinting.engine.embedder import Standardizer, get_embedder

            if args.skip_catalog:
                analyses, _ing = ingest(min(args.real, 40), workdir, args.seed)
            embedder = get_embedder()
            raw = np.concatenate([a.segments.raw for _p, a in analyses])
            owners = np.concatenate([np.full(len(a.segments.raw), i) for i, (_p, a) in enumerate(analyses)])
            real_vectors = Standardizer.fit(raw, embedder).transform(raw)
            print(
                f"FAISS, {args.faiss_segments:,} synthetic segments of dim {embedder.dim} (statistics of "
                f"{len(real_vectors)} real segments), {args.faiss_queries} single queries, 1 thread:"
            )
            for r in faiss_bench(args.faiss_segments, real_vectors, owners, args.faiss_queries, args.nlist):
                extra = f", 8-query batch {r['batch8_ms']:.1f} ms" if r.get("batch8_ms") else ""
                train = f", train+add {r['train_s']:.0f} s" if r.get("train_s") else ""
                print(
                    f"  {r['index']:<26} p50 {r['p50_ms']:7.2f} ms  recall@10 {r['recall@10']:.3f}  "
                    f"memory {r['bytes_per_million'] / 2**20:.0f} MiB per million segments{extra}{train}",
                    flush=True,
                )
    finally:
        shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    main()
