"""The composition lane's retrieval at catalog scale (issue 12: indexed, to 50,000 recordings).

A catalog of N recordings of *synthetic* chroma (a few pitch classes at a time, held for four frames,
changing at random: every recording different, none of it music), lengths drawn around three minutes
(30 s to 10 min), is put through `composition.PatchIndex.build` as the lane builds it on first use:
exact search up to `CompositionConfig.exact_patches` patches, an inverted file of quantised patches
beyond. Then `composition.retrieve` runs on clips that re-perform a catalog excerpt (20 s, transposed
by -5..6 semitones, tempo x0.9-1.1, noise added). Printed: the build's CPU and the index's memory,
the index stored as an index version stores it (`fingerprinting.index.write_patch_index`) and read back
as a worker reads it: its size on disk and the time to open it; then retrieval's CPU per
clip through the stored index (median, p90), how often the source is among the candidates and first,
and a check that the index as built gives the same candidates; last, the CPU a new version spends
updating the stored index (`--update N` recordings removed and N added, as `fingerprinting.index`
updates a parent's inverted file) instead of building one.

    DEBUG=1 .venv/bin/python bench/composition_scale.py [--recordings 50000] [--clips 40] [--exact-patches N]
        [--probe LISTS] [--codec SQ8|PQ24|Flat] [--clip-hop FRAMES] [--tempi N] [--store DIR] [--update N]

`--exact-patches` overrides the configured limit: 0 forces the approximate index, a large number exact
search (576 bytes a patch, and every patch compared: use it at a few thousand recordings to see what the
approximate index loses). `--store DIR` keeps the stored index in DIR, and a later run with the same
catalog and patch settings reuses it instead of building (at 50,000 recordings the build is most of a
run): query settings (`--probe`, `--clip-hop`, `--tempi`) are then compared on one index. The content is synthetic:
what real music loses is measured on the re-performance corpus (docs/attribution.md).
"""

import argparse
import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLIP_FRAMES = 108  # 20 s at the alignment chroma's 0.186 s a frame
STORED_CATALOG = "scale.json"  # what `--store` folder's index was built from (catalog and patch settings)
CHECKED_CLIPS = 5  # clips also retrieved through the index as built (each costs a second retrieval)


class SyntheticCatalog:
    """What the lane reads of a catalog index (its recordings' chroma), made up on demand from a seed
    per recording, so that 50,000 recordings need no storage."""

    version = "bench-composition-scale"

    def __init__(self, recordings: int, seed: int = 0, first_id: int = 0):
        """Recordings `first_id` .. `first_id + recordings - 1`, at positions from 0 (a later catalog
        version, with the first recordings gone and as many new ones, starts at a later id)."""
        rng = np.random.default_rng(seed)
        seconds = np.exp(rng.normal(np.log(180.0), 0.5, first_id + recordings)).clip(30.0, 600.0)[first_id:]
        self.frames = (seconds / 0.186).astype(int)
        self.n_recordings = recordings
        self.seed = seed
        self.first_id = first_id

    @property
    def recordings(self) -> list[dict]:
        return [{"id": self.first_id + p, "sha": "synthetic"} for p in range(self.n_recordings)]

    def recording_chroma(self, position: int) -> np.ndarray:
        from fingerprinting.engine import alignment

        rng = np.random.default_rng((self.seed, self.first_id + position))
        frames = int(self.frames[position])
        held = np.repeat(rng.random((frames // 4 + 1, 12)) ** 4, 4, axis=0)[:frames]
        return alignment.normalise_frames(held.astype(np.float32))

    def group_members(self, position: int) -> list[int]:
        return [position]


def reperformed_clip(catalog: SyntheticCatalog, source: int, rng) -> np.ndarray:
    from fingerprinting.engine import alignment

    chroma = catalog.recording_chroma(source)
    tempo = float(rng.uniform(0.9, 1.1))
    need = int(np.ceil(CLIP_FRAMES * tempo)) + 1
    start = int(rng.integers(0, max(1, len(chroma) - need)))
    part = alignment.rescale_time(chroma[start : start + need], tempo)[:CLIP_FRAMES]
    part = np.roll(part, int(rng.integers(-5, 7)), axis=1) + 0.15 * rng.random(part.shape)
    return alignment.normalise_frames(part.astype(np.float32))


def index_bytes(patches) -> int:
    """Memory the patch index holds: FAISS's codes and ids (exact: the float32 vectors), the owners."""
    import faiss

    ivf = faiss.try_extract_index_ivf(patches.faiss_index)
    # Exact: the float32 vectors; IVF: each list stores a code and a 64-bit id per patch.
    per_patch = 4 * patches.faiss_index.d if ivf is None else ivf.code_size + 8
    return int(patches.faiss_index.ntotal) * per_patch + patches.recording.nbytes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recordings", type=int, default=50_000)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--exact-patches", type=int, help="override CompositionConfig.exact_patches")
    parser.add_argument("--probe", type=int, help="override CompositionConfig.ivf_probe (lists searched)")
    parser.add_argument("--codec", help="override CompositionConfig.approximate_codec (FAISS factory code)")
    parser.add_argument(
        "--clip-hop", type=int, help="override CompositionConfig.clip_hop_frames (clip patches' spacing)"
    )
    parser.add_argument(
        "--tempi",
        type=int,
        help="override CompositionConfig.retrieval_tempi: this many clip tempi, geometric over 0.8-1.25 "
        "(odd, so that 1.0 is one)",
    )
    parser.add_argument(
        "--update",
        type=int,
        default=10,
        help="then time a new version's update of the stored index: this many recordings removed and added",
    )
    parser.add_argument(
        "--store",
        type=Path,
        help="keep the stored patch index in this folder, and reuse it when a former run stored one for the "
        "same catalog and patch settings (no build)",
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    import faiss
    import threadpoolctl

    django.setup()  # fingerprinting.index, which stores the patch index, reads the settings

    threadpoolctl.threadpool_limits(1, user_api="blas")  # one core, as a worker
    faiss.omp_set_num_threads(1)
    config = configured(args)
    catalog = SyntheticCatalog(args.recordings)
    hours = catalog.frames.sum() * 0.186 / 3600
    print(f"{args.recordings} recordings of synthetic chroma ({hours:.0f} h)")
    with tempfile.TemporaryDirectory(prefix="composition-scale-") as scratch:
        folder = args.store or Path(scratch)
        reopened = reused(folder, catalog, config)
        if reopened is None:
            build(catalog, config)
            reopened = stored_and_reopened(catalog, config, folder)
        describe(reopened, config)
        measure_retrieval(catalog, reopened, config, args.clips)
        if args.update:
            measure_update(folder, catalog, config, args.update)


def configured(args):
    from fingerprinting.engine.config import CompositionConfig

    config = CompositionConfig(enabled=True)
    if args.exact_patches is not None:
        config = dataclasses.replace(config, exact_patches=args.exact_patches)
    if args.probe is not None:
        config = dataclasses.replace(config, ivf_probe=args.probe)
    if args.codec:
        config = dataclasses.replace(config, approximate_codec=args.codec)
    if args.clip_hop is not None:
        config = dataclasses.replace(config, clip_hop_frames=args.clip_hop)
    if args.tempi is not None:
        if args.tempi < 1 or args.tempi % 2 == 0:
            raise SystemExit("--tempi must be odd, so that the clip is also searched at its own tempo")
        tempi = (
            tuple(round(float(t), 4) for t in np.geomspace(0.8, 1.25, args.tempi))
            if args.tempi > 1
            else (1.0,)
        )
        config = dataclasses.replace(config, retrieval_tempi=tempi)
    return config


def build(catalog: SyntheticCatalog, config) -> None:
    """The patch index built as an index version's writer builds it; its CPU and memory."""
    from fingerprinting.engine import composition

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    patches = composition.PatchIndex.build(catalog, config)
    build_cpu = time.process_time() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    catalog._composition_patches = patches  # where composition.patch_index keeps it
    print(
        f"  build: {build_cpu:.0f} s CPU; index {index_bytes(patches) / 2**20:.0f} MiB "
        f"({index_bytes(patches) / patches.faiss_index.ntotal:.0f} bytes a patch); peak RSS grew "
        f"{(rss_after - rss_before) / 1024:.0f} MiB"
    )


def describe(catalog: SyntheticCatalog, config) -> None:
    import faiss

    from fingerprinting.engine import composition

    patches = composition.patch_index(catalog, config)
    ivf = faiss.try_extract_index_ivf(patches.faiss_index)
    searched = "every patch" if ivf is None else f"{ivf.nprobe} of {ivf.nlist} lists"
    print(
        f"  {patches.faiss_index.ntotal} patches: {type(patches.faiss_index).__name__} (exact search up to "
        f"{config.exact_patches} patches; codec {config.approximate_codec}); a clip patch every "
        f"{config.clip_hop_frames} frames searches {searched}"
    )


def measure_retrieval(catalog: SyntheticCatalog, reopened: SyntheticCatalog, config, clips: int) -> None:
    """Retrieval through the stored index, and (when this run built it) the built index's candidates
    for the first clips, which must be the same."""
    from fingerprinting.engine import composition

    built = getattr(catalog, "_composition_patches", None) is not None
    rng = np.random.default_rng(1)
    cpu, inside, first, differ = [], 0, 0, 0
    for n, source in enumerate(rng.choice(catalog.n_recordings, clips, replace=False)):
        clip = reperformed_clip(catalog, int(source), rng)
        started = time.process_time()
        candidates = composition.retrieve(reopened, clip, config, frozenset())
        cpu.append(time.process_time() - started)
        inside += int(source) in candidates
        first += bool(candidates) and candidates[0] == int(source)
        if built and n < CHECKED_CLIPS:
            differ += composition.retrieve(catalog, clip, config, frozenset()) != candidates
    checked = f"{differ}/{min(CHECKED_CLIPS, clips)}" if built else "not checked (index reused)"
    print(
        f"  retrieval of {clips} re-performed excerpts (20 s, transposed, tempo x0.9-1.1, noise), through "
        f"the stored index: CPU per clip median {np.median(cpu) * 1000:.0f} ms, p90 "
        f"{np.quantile(cpu, 0.9) * 1000:.0f} ms; source among the {config.candidates} candidates "
        f"{inside}/{clips}, first {first}/{clips}; candidates other than the built index's {checked}"
    )


def measure_update(folder: Path, catalog: SyntheticCatalog, config, changed: int) -> None:
    """A new version's patch index from the stored one, as `fingerprinting.index` writes a version that
    updates its parent: the stored index read whole (a private copy), the first `changed` recordings
    removed and as many new ones added (`composition.PatchIndex.updated`)."""
    from fingerprinting import index as catalog_index
    from fingerprinting.engine import composition

    params = composition.patch_params(config)
    started = time.process_time()
    stored = catalog_index.patch_index_reader(folder, {"composition_patches": params})(params)
    read_cpu = time.process_time() - started
    parent = composition.PatchIndex.from_stored(*stored, config)
    successor = SyntheticCatalog(catalog.n_recordings, catalog.seed, first_id=changed)
    updated = composition.PatchIndex.updated(parent, catalog.recordings, successor, config)
    cpu = time.process_time() - started
    if updated is None:
        print(
            f"  update of {changed} recordings removed and {changed} added: a whole build is due (exact search)"
        )
        return
    print(
        f"  update of {changed} recordings removed and {changed} added: {cpu:.1f} s CPU ({read_cpu:.1f} s of it "
        f"reading the stored index whole); {updated.faiss_index.ntotal} patches"
    )


def reused(folder: Path, catalog: SyntheticCatalog, config) -> "SyntheticCatalog | None":
    """The catalog with the patch index a former run stored in `folder` (`--store`), when that run's
    catalog and patch settings were these; else None."""
    from fingerprinting import index as catalog_index
    from fingerprinting.engine import composition

    described = folder / STORED_CATALOG
    if not described.exists():
        return None
    stored = json.loads(described.read_text())
    wanted = {
        "recordings": catalog.n_recordings,
        "seed": catalog.seed,
        "params": composition.patch_params(config),
    }
    if stored != wanted:
        return None
    reopened = SyntheticCatalog(catalog.n_recordings, catalog.seed)
    reopened.stored_patches = catalog_index.patch_index_reader(
        folder, {"composition_patches": stored["params"]}
    )
    print(f"  reused the patch index stored in {folder} (no build in this run)")
    return reopened


def stored_and_reopened(catalog: SyntheticCatalog, config, folder: Path) -> SyntheticCatalog:
    """The catalog's patch index written as an index version stores it and read back as a worker reads
    it, on a copy of the catalog that holds no built index."""
    from fingerprinting import index as catalog_index
    from fingerprinting.engine import composition
    from fingerprinting.engine.config import EngineConfig

    folder.mkdir(parents=True, exist_ok=True)
    meta = catalog_index.write_patch_index(folder, catalog, EngineConfig(composition=config))
    params = meta["composition_patches"]
    (folder / STORED_CATALOG).write_text(
        json.dumps({"recordings": catalog.n_recordings, "seed": catalog.seed, "params": params})
    )
    on_disk = sum(f.stat().st_size for f in folder.iterdir())
    reopened = SyntheticCatalog(catalog.n_recordings, catalog.seed)
    reopened.stored_patches = catalog_index.patch_index_reader(folder, meta)
    started, wall = time.process_time(), time.perf_counter()
    composition.patch_index(reopened, config)
    print(
        f"  stored: {on_disk / 2**20:.0f} MiB on disk; a worker opens it in {time.process_time() - started:.2f} s "
        f"CPU ({time.perf_counter() - wall:.2f} s wall) instead of building it"
    )
    return reopened


if __name__ == "__main__":
    main()
