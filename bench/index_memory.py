"""Memory and recall of the FAISS index types Stemma would shard a very large catalog on.

    .venv/bin/python bench/index_memory.py [--segments 1000000]

Synthetic float32 vectors of the embedder's dimension, L2-normalised (inner product = cosine), queried with
noisy copies of stored vectors. Prints, per index type: bytes per vector, MiB per million segments,
recall@10 against exact search, and p50 latency of single queries (1 thread), read whole and read back
memory-mapped as workers open a stored index (`IO_FLAG_MMAP`, fingerprinting.index._read_faiss), after
a warm-up that touches every list. Figures for docs/scaling.md.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

DIM = 222  # the default embedder's dimension (docs/attribution.md)


def normalised(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def stored_and_mapped(index, nprobe: int | None) -> tuple[float, object]:
    """The index's size on disk (MiB), and the index read back from that file memory-mapped."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "index.faiss"
        faiss.write_index(index, str(path))
        mapped = faiss.read_index(str(path), faiss.IO_FLAG_MMAP)  # the mapping outlives the unlinked file
        if nprobe:
            faiss.extract_index_ivf(mapped).nprobe = nprobe
        return path.stat().st_size / 2**20, mapped


def median_latency_ms(index, queries: np.ndarray, warm: np.ndarray) -> float:
    index.search(warm, 10)  # every list (or page) touched once: the steady state of a long-lived worker
    latencies = []
    for q in range(len(queries)):
        t = time.perf_counter()
        index.search(queries[q : q + 1], 10)
        latencies.append((time.perf_counter() - t) * 1000)
    return statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(7)
    # Clustered data (like embeddings of music in a few styles), not uniform noise.
    centres = normalised(rng.standard_normal((512, DIM)))
    # Spread within a style about half the distance between styles; a query is a stored segment heard
    # again with a little noise (a re-used passage), as the style lane sees it.
    spread = 0.5 / np.sqrt(DIM)
    labels = rng.integers(0, 512, args.segments)
    data = normalised(centres[labels] + spread * rng.standard_normal((args.segments, DIM)))
    picks = rng.integers(0, args.segments, args.queries)
    queries = normalised(data[picks] + 0.2 * spread * rng.standard_normal((args.queries, DIM)))
    flat = faiss.IndexFlatIP(DIM)
    flat.add(data)
    _, truth = flat.search(queries, 10)
    n = args.segments
    nlist = 1024
    print(f"{n:,} segments of dim {DIM}, {args.queries} queries, 1 thread")
    warm = normalised(rng.standard_normal((2000, DIM)))
    print(
        f"{'index':28} {'bytes/vec':>9} {'MiB per 1M':>11} {'recall@10':>10} {'p50 ms':>8} {'mapped':>8} "
        f"{'build s':>8}"
    )
    for name, factory, nprobe in (
        ("flat (exact)", "Flat", None),
        ("IVF1024,Flat nprobe 16", f"IVF{nlist},Flat", 16),
        ("IVF1024,PQ74x8 nprobe 16", f"IVF{nlist},PQ74x8", 16),
        ("OPQ56,IVF1024,PQ56x8 np 32", f"OPQ56_224,IVF{nlist},PQ56x8", 32),
    ):
        started = time.perf_counter()
        if name.startswith("flat"):
            index = flat
        else:
            index = faiss.index_factory(DIM, factory, faiss.METRIC_INNER_PRODUCT)
            index.train(data[: min(n, 200_000)])
            index.add(data)
        build = time.perf_counter() - started
        if nprobe:
            faiss.extract_index_ivf(index).nprobe = nprobe
        _, ids = index.search(queries, 10)
        found = [len(set(ids[q]) & set(truth[q])) / 10 for q in range(len(queries))]
        mib, mapped = stored_and_mapped(index, nprobe)
        # One exact query already reads every vector; an inverted file needs many to touch every list.
        warming = warm if nprobe else warm[:1]
        whole_ms, mapped_ms = (
            median_latency_ms(index, queries, warming),
            median_latency_ms(mapped, queries, warming),
        )
        print(f"{name:28} {mib * 2**20 / n:9.1f} {mib * 1e6 / n:11.1f} {statistics.mean(found):10.3f} "
              f"{whole_ms:8.2f} {mapped_ms:8.2f} {build:8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
