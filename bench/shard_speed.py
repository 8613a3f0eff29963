"""`attribution_speed.py --shards 1 2 4`: query latency and memory per worker of a sharded index.

The index has --shard-segments (2,000,000) segments. Analysing real audio for 2M segments (about
100,000 recordings of 84 s) would take days on this machine, so the catalog is built directly with
numpy, as bench/attribution_speed.py's FAISS section does, around --real synthesized recordings that are
really analysed (the clips are excerpts of those, so every lane has something to find):
- segment embeddings: recording centres drawn from a Gaussian fitted to the real recordings' mean
  descriptors, segments scattered with the real within-recording covariance, 20 segments (84 s) per
  synthetic recording;
- Chromaprint sub-fingerprints: uniform random items at the real rate (one per 0.124 s);
- landmark hashes: uniform random 23-bit hashes at one twentieth of the real density (500 per
  recording instead of ~10,000: the real density would need ~20 GiB for the inverted index alone,
  more than this shared 24 GiB machine can spare); the real recordings keep theirs;
- alignment chroma: the real recordings' chroma, reused.
The standardizer is fitted on a sample of 200,000 segments (on all 2M it would hold float64 copies of
them, ~7 GiB, on this shared machine). No calibration is run (the leave-one-out needs audio; the priors stand in): latency does not depend on it.

The same catalog is written once per shard count through fingerprinting.index.write_version (the real
storage and cache layout; 1 = the unsharded layout), all with one FAISS training (2M segments: IVF, one
quantizer that every shard copies). Then, per shard count, its files are read once (a serving host
has its index in the page cache; the layouts written first may have been pushed out of it by the later
ones), and each worker runs in a fresh process, so its memory is its own:
- "fan-out worker": loads the whole version (every shard, in process, memory-mapped) and attributes
  the clips end to end (engine.attribute): median and p90 wall latency per clip, peak RSS;
- "shard worker": loads shard 0 alone (what a worker serving one shard maps) and answers the shard's
  part of every clip (FAISS top-k of the clip's windows, the Chromaprint and landmark postings of its
  keys): median and p90 latency per clip, peak RSS (VmHWM) and its file-backed part (mapped index pages
  the process touched; shared with every other process of the host through the page cache).

    DEBUG=1 .venv/bin/python bench/attribution_speed.py --shards 1 2 4 [--shard-segments 2000000]
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SEGMENTS_PER_RECORDING = 20  # 8 s windows every 4 s: an 84 s recording
LANDMARKS_PER_RECORDING = 500  # one twentieth of the real density (module docstring)
CHROMAPRINT_ITEMS_PER_SECOND = 1 / 0.12384  # engine.chromaprint.ITEM_SECONDS


def _memory() -> dict:
    fields = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _sep, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) / 1024  # MiB
    return fields


def recording_gaussians(real: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(between, within, centre): Cholesky factors of the covariance of the real recordings' mean
    vectors and of the segments' residuals around their recording's mean (both shrunk towards the
    diagonal, so a few dozen recordings give a usable factor), and the mean of the recording means."""
    dim = real.shape[1]
    labels = np.unique(owners)
    means = np.stack([real[owners == o].mean(axis=0) for o in labels])
    residuals = real - means[np.searchsorted(labels, owners)]

    def factor(x: np.ndarray) -> np.ndarray:
        cov = np.cov(x, rowvar=False)
        cov = 0.9 * cov + 0.1 * np.diag(np.diag(cov)) + 1e-6 * np.eye(dim)
        return np.linalg.cholesky(cov).astype(np.float32)

    return factor(means), factor(residuals), means.mean(axis=0).astype(np.float32)


def _raw_generator(real_raw: np.ndarray, owners: np.ndarray, rng):
    """Synthetic raw descriptors with the real recordings' between- and within-recording statistics."""
    dim = real_raw.shape[1]
    between, within, centre = recording_gaussians(real_raw, owners)

    def block(recordings: int) -> np.ndarray:
        centres = centre + rng.standard_normal((recordings, dim)).astype(np.float32) @ between.T
        data = np.repeat(centres, SEGMENTS_PER_RECORDING, axis=0)
        data += rng.standard_normal(data.shape).astype(np.float32) @ within.T
        return data

    return block


def synthetic_entries(analyses, n_segments: int, seed: int) -> list:
    """(row, analysis) pairs: the real analyses (ids 1..R) and synthetic recordings up to n_segments."""
    from fingerprinting.engine import RecordingAnalysis
    from fingerprinting.engine.embedder import Segments

    rng = np.random.default_rng(seed)
    entries = []
    for i, (_path, a) in enumerate(analyses):
        entries.append(
            ({"id": i + 1, "isrc": a.isrc, "title": a.title, "duration": a.duration, "sha": f"r{i}"}, a)
        )
    real_raw = np.concatenate([a.segments.raw for _p, a in analyses])
    owners = np.concatenate([np.full(len(a.segments.raw), i) for i, (_p, a) in enumerate(analyses)])
    make = _raw_generator(real_raw, owners, rng)
    fill = max(0, (n_segments - len(real_raw)) // SEGMENTS_PER_RECORDING)
    duration = 4.0 * (SEGMENTS_PER_RECORDING + 1)
    starts = np.arange(SEGMENTS_PER_RECORDING, dtype=np.float32) * 4.0
    items = int(duration * CHROMAPRINT_ITEMS_PER_SECOND)
    frames = int(duration / 0.0464)
    chromas = [a.segments.chroma for _p, a in analyses]
    block_size = 5000
    for first in range(0, fill, block_size):
        count = min(block_size, fill - first)
        raw = make(count)
        fps = rng.integers(0, 2**32, (count, items), dtype=np.uint64).astype(np.uint32)
        hashes = rng.integers(0, 2**23, (count, LANDMARKS_PER_RECORDING), dtype=np.uint32)
        times = np.sort(rng.integers(0, frames, (count, LANDMARKS_PER_RECORDING), dtype=np.int32), axis=1)
        for j in range(count):
            rid = len(analyses) + first + j + 1
            seg = slice(j * SEGMENTS_PER_RECORDING, (j + 1) * SEGMENTS_PER_RECORDING)
            analysis = RecordingAnalysis(
                recording_id=rid,
                isrc=f"QZSYN{rid:07d}",
                title=f"s{rid}",
                duration=duration,
                fingerprint=fps[j],
                segments=Segments(
                    starts=starts, ends=starts + 8.0, raw=raw[seg], chroma=chromas[rid % len(chromas)]
                ),
                landmark_hashes=hashes[j],
                landmark_times=times[j],
            )
            entries.append(
                (
                    {
                        "id": rid,
                        "isrc": analysis.isrc,
                        "title": analysis.title,
                        "duration": duration,
                        "sha": f"s{rid}",
                    },
                    analysis,
                )
            )
    return entries


def _clips(analyses, workdir: Path, count: int, seed: int) -> Path:
    """30 s excerpts of the real recordings (every fifth clip unrelated music), saved for the workers."""
    import soundfile

    from demo.synth import synthesize
    from fingerprinting.audio import load_for_analysis

    rng = np.random.default_rng(seed)
    clips = []
    for c in range(count):
        path, _a = analyses[int(rng.integers(len(analyses)))]
        if c % 5 == 4:
            clips.append(synthesize(88_000_000 + c, 30.0, sr=22050))
            continue
        audio, sr = soundfile.read(path, dtype="float32")
        start = int(rng.uniform(0, max(1, len(audio) / sr - 30)) * sr)
        clips.append(audio[start : start + 30 * sr])
    out = workdir / "shard-clips"
    out.mkdir(exist_ok=True)
    from demo.synth import write_wav

    for c, samples in enumerate(clips):
        write_wav(out / f"{c}.wav", samples, 22050)
        np.save(out / f"{c}.npy", load_for_analysis(out / f"{c}.wav", min_seconds=3.0, max_seconds=600.0))
    return out


def build(analyses, shard_counts: list[int], n_segments: int, seed: int) -> dict[int, int]:
    """One version per shard count (labels 100 + N), sharing one FAISS training. Returns N -> label."""
    from fingerprinting import engine
    from fingerprinting import index as catalog_index
    from fingerprinting.engine.embedder import Standardizer, get_embedder

    embedder = get_embedder()
    t = time.perf_counter()
    entries = synthetic_entries(analyses, n_segments, seed)
    print(f"  synthetic catalog: {len(entries):,} recordings in {time.perf_counter() - t:.0f} s", flush=True)
    # Fitted on a sample of 200,000 segments: fitting on all 2M holds float64 copies of them (~7 GiB).
    sample = np.random.default_rng(seed).choice(len(entries), min(len(entries), 10_000), replace=False)
    standardizer = Standardizer.fit(
        np.concatenate([entries[i][1].segments.raw for i in sorted(sample)]), embedder
    )
    labels, first = {}, None
    for count in sorted(shard_counts):
        label = 100 + count
        t = time.perf_counter()
        catalog_index.write_version(
            label_id=label,
            entries=[(dict(row), a) for row, a in entries],
            standardizer=standardizer,
            embedder=embedder,
            config=engine.DEFAULT_CONFIG,
            finish=lambda index: {},
            # The first version's FAISS training is every other's (as the shards of one version share it).
            previous=first if count > 1 else None,
            shards=count,
        )
        if first is None:
            first = catalog_index.open_current(label)
        labels[count] = label
        print(f"  {count} shard(s): written in {time.perf_counter() - t:.0f} s", flush=True)
        _drop_stored_copy(label)
    return labels


def _drop_stored_copy(label: int) -> None:
    """Workers read the local cache; the storage's copy (the same bytes again on this one disk) goes,
    but for the pointer and each version's meta.json (what a worker reads before its cache)."""
    from django.conf import settings

    from fingerprinting import index as catalog_index

    root = Path(settings.MEDIA_ROOT) / catalog_index.label_prefix(label)
    for path in root.rglob("*"):
        if path.is_file() and path.name not in ("CURRENT", "meta.json"):
            path.unlink()


def worker(label: int, shard: int | None, clips: Path) -> dict:
    """Run in a fresh process: load the whole version (shard None) or one shard, answer every clip."""
    from fingerprinting import engine
    from fingerprinting import index as catalog_index
    from fingerprinting.engine.landmarks import pair_hashes
    from fingerprinting.engine.lanes import ClipFeatures
    from fingerprinting.engine.signal import strongest_per_second

    config = engine.DEFAULT_CONFIG
    version = catalog_index.current_version(label)
    paths = sorted(clips.glob("*.npy"), key=lambda p: int(p.stem))
    samples = [np.load(p) for p in paths]
    latencies = []
    if shard is None:
        index = catalog_index.load_version(label, version, config)
        engine.attribute(index, samples[0], config=config)  # first clip: imports, first page faults
        for clip in samples:
            t = time.perf_counter()
            engine.attribute(index, clip, config=config)
            latencies.append(time.perf_counter() - t)
    else:
        index = catalog_index.load_shard(label, version, shard, config)
        whole_meta = json.loads((catalog_index.cache_dir(label) / version / "meta.json").read_text())
        from fingerprinting.engine.embedder import Standardizer

        standardizer = Standardizer.from_json(whole_meta["standardizer"])
        queries = []
        for clip in samples:  # the clip's features are the fan-out's (computed once, by the caller)
            features = ClipFeatures(clip, config, index.embedder)
            lm = config.landmark
            fp = (features.fingerprint >> np.uint32(32 - config.chromaprint.key_bits)).astype(np.uint32)
            hashes, _times = pair_hashes(
                *strongest_per_second(*features.peaks, lm.query_peaks_per_second), lm
            )
            queries.append((standardizer.transform(features.segments.raw), fp, hashes))
        for round_ in range(2):  # the first round warms up, the second is timed
            for vectors, fp, hashes in queries:
                t = time.perf_counter()
                index.nearest_segments(vectors, config.style.faiss_k)
                index.chromaprint.postings(fp, config.chromaprint.max_postings)
                index.landmarks.postings(hashes, config.landmark.max_postings)
                if round_:
                    latencies.append(time.perf_counter() - t)
    return {
        "segments": index.n_segments,
        "median_ms": 1000 * float(np.median(latencies)),
        "p90_ms": 1000 * float(np.quantile(latencies, 0.9)),
        **_memory(),
    }


def _warm(label: int) -> None:
    """Read the label's cached files once: a serving host has its index in the page cache, and the
    layouts written before the last one may have been pushed out of it by the later ones."""
    from fingerprinting import index as catalog_index

    for path in sorted(catalog_index.cache_dir(label).rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(16 * 1024 * 1024):
                    pass


def _run_worker(label: int, shard: int | None, clips: Path) -> dict:
    from django.conf import settings

    env = {
        **os.environ,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "INDEX_CACHE_DIR": str(settings.INDEX_CACHE_DIR),
        "STEMMA_FAISS_THREADS": "1",
    }
    args = [
        sys.executable,
        str(Path(__file__).with_name("attribution_speed.py")),
        "--shard-worker",
        str(label),
    ]
    args += ["--shard-clips", str(clips)] + (["--shard-index", str(shard)] if shard is not None else [])
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(args, analyses, workdir: Path) -> None:
    print(
        f"shards: {args.shard_segments:,} segments, shard counts {args.shards}, "
        f"load average {os.getloadavg()[0]:.1f} at the start",
        flush=True,
    )
    clips = _clips(analyses, workdir, args.clips, args.seed)
    labels = build(analyses, args.shards, args.shard_segments, args.seed)
    for count in args.shards:
        _warm(labels[count])
        fan = _run_worker(labels[count], None, clips)
        one = _run_worker(labels[count], 0, clips)
        print(
            f"  {count} shard(s), load average {os.getloadavg()[0]:.1f}: fan-out worker (all shards in process) "
            f"{fan['median_ms']:.0f} ms median, {fan['p90_ms']:.0f} ms p90 per 30 s clip, peak RSS "
            f"{fan['VmHWM']:.0f} MiB | shard worker (shard 0, {one['segments']:,} segments) "
            f"{one['median_ms']:.1f} ms median, {one['p90_ms']:.1f} ms p90 per clip, peak RSS {one['VmHWM']:.0f} MiB "
            f"(file-backed {one['RssFile']:.0f} MiB, anonymous {one['RssAnon']:.0f} MiB at the end)",
            flush=True,
        )
