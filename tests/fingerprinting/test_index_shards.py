"""Index shards (fingerprinting.engine.shards, fingerprinting.index): a label's index split by
recording id gives the same attributions as the whole index, share for share and evidence for
evidence; shards are stored as their own objects and reused; old unsharded versions read as before.

The catalog is synthesized (tests/fingerprinting/conftest.py's pieces) and analysed once per module;
versions are written straight through fingerprinting.index, as the indexing service does, for labels
that have no database rows (the index storage does not need them)."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import faiss
import numpy as np
import pytest
from django.core.files.storage import storages

from demo.synth import synthesize
from demo.transforms import mix, pitch_shift
from fingerprinting import engine
from fingerprinting import index as catalog_index
from fingerprinting.audio import resample
from fingerprinting.engine import chromaprint
from fingerprinting.engine.shards import LocalShard, ShardedCatalog, shard_of, split_entries
from tests.conftest import storage_env
from tests.fingerprinting.conftest import SR, recording_audio, write_analysed_version

CONFIG = engine.DEFAULT_CONFIG
ROOT = Path(__file__).resolve().parents[2]
N_RECORDINGS = 9
DUPLICATE_OF = 2  # recording 9 is recording 2's audio under another ISRC (identical segments: ties)


def _audio(n: int) -> np.ndarray:
    return recording_audio(DUPLICATE_OF if n == N_RECORDINGS - 1 else n)


@lru_cache(maxsize=1)
def _analyses() -> tuple:
    embedder = catalog_index.get_embedder()
    out = []
    for n in range(N_RECORDINGS):
        recording_id = 101 + 7 * n  # ids spread over every residue of 2 and 3
        samples = resample(_audio(n), SR, engine.ANALYSIS_SR)
        analysis = engine.analyse_recording(
            samples,
            recording_id=recording_id,
            isrc=f"QZSHD{recording_id:07d}",
            title=f"Piece {n}",
            embedder=embedder,
            config=CONFIG,
        )
        out.append((recording_id, analysis))
    return tuple(out)


def _entries(count: int = N_RECORDINGS) -> list:
    return [
        (
            {
                "id": rid,
                "isrc": a.isrc,
                "title": a.title,
                "duration": round(a.duration, 3),
                "sha": f"sha-{rid}",
            },
            a,
        )
        for rid, a in _analyses()[:count]
    ]


def _write(label_id: int, shards: int, count: int = N_RECORDINGS, previous=None) -> str:
    entries = _entries(count)
    samples = {row["id"]: resample(_audio(n), SR, engine.ANALYSIS_SR) for n, (row, _a) in enumerate(entries)}
    return write_analysed_version(
        label_id, entries, config=CONFIG, audio=samples.__getitem__, previous=previous, shards=shards
    )


def _clips() -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """Clips that exercise every lane: verbatim, near-duplicate (FAISS ties), a mix, a transposition,
    unrelated music (style lane and its null), a declared reference."""

    def cut(x: np.ndarray, start: float, seconds: float) -> np.ndarray:
        return x[int(start * SR) : int((start + seconds) * SR)]

    isrc = {n: a.isrc for n, (_rid, a) in enumerate(_analyses())}
    clips = {
        "verbatim": (cut(_audio(3), 6.0, 12.0), ()),
        "duplicate": (cut(_audio(N_RECORDINGS - 1), 2.0, 12.0), ()),
        "mix": (mix(cut(_audio(1), 4.0, 12.0), cut(_audio(5), 10.0, 12.0), -6.0), ()),
        "transposed": (pitch_shift(cut(_audio(4), 3.0, 12.0), SR, 2.0), ()),
        "unrelated": (synthesize(424_242, 12.0, sr=SR), (isrc[6], "QZNOTINCAT01")),
    }
    return {name: (resample(x, SR, engine.ANALYSIS_SR), declared) for name, (x, declared) in clips.items()}


def _result(index, samples: np.ndarray, declared: tuple[str, ...]) -> str:
    """Everything an attribution stores, timings aside, as canonical JSON."""
    r = engine.attribute(index, samples, config=CONFIG, declared_isrcs=declared)
    return json.dumps(
        {
            "shares": [dataclasses.asdict(s) for s in r.shares],
            "remainder": r.remainder,
            "confidence": r.confidence,
            "evidence": r.evidence,
            "review": dataclasses.asdict(r.review),
        },
        sort_keys=True,
    )


def test_shard_assignment_is_recording_id_modulo_the_count():
    assert [shard_of(i, 3) for i in (0, 1, 2, 3, 101, 108)] == [0, 1, 2, 0, 2, 0]
    entries = _entries()
    parts = split_entries(entries, 3)
    assert sorted(row["id"] for part in parts for row, _a in part) == sorted(row["id"] for row, _a in entries)
    for k, part in enumerate(parts):
        assert part and all(row["id"] % 3 == k for row, _a in part)
        assert [row["id"] for row, _a in part] == sorted(row["id"] for row, _a in part)  # order kept


def test_sharded_indexes_attribute_exactly_as_the_whole_index(settings):
    versions = {shards: _write(900 + shards, shards) for shards in (1, 2, 3)}
    # Each label's first version of the same catalog: one name (the style lane's null is seeded by it).
    assert len(set(versions.values())) == 1
    indexes = {shards: catalog_index.open_current(900 + shards) for shards in versions}
    assert not isinstance(indexes[1], ShardedCatalog)
    assert [len(i.shards) for i in (indexes[2], indexes[3])] == [2, 3]
    whole = indexes[1]
    assert whole.meta["near_duplicates"], "the duplicate pair must be grouped (the tie case below)"
    for shards in (2, 3):
        index = indexes[shards]
        # What the whole catalog decides is computed once, over the merged view, and comes out the same.
        for key in ("near_duplicates", "calibration", "standardizer", "n_segments", "kind", "recordings"):
            assert index.meta[key] == whole.meta[key], key
        assert index.n_segments == whole.n_segments
    for name, (samples, declared) in _clips().items():
        expected = _result(whole, samples, declared)
        assert json.loads(expected)["shares"] or name == "unrelated", f"{name}: the clip must be found"
        for shards in (2, 3):
            assert _result(indexes[shards], samples, declared) == expected, f"{name} with {shards} shards"

    # One Celery queue per shard (eager here: the calls run inline, through the same encoding).
    settings.INDEX_SHARD_QUEUES = True
    catalog_index.forget_loaded()
    queued = catalog_index.open_current(903)
    assert [type(shard).__name__ for shard in queued.shards] == ["RemoteShard"] * 3
    for name in ("verbatim", "mix", "unrelated"):
        samples, declared = _clips()[name]
        assert _result(queued, samples, declared) == _result(whole, samples, declared), f"{name} over queues"


def test_sharded_ivf_indexes_attribute_exactly_as_the_whole_ivf_index(monkeypatch):
    """Above the IVF threshold (lowered here to this small catalog, probing 2 of its ~8 lists, so the
    search is approximate) every shard copies the whole catalog's trained quantizer: the same lists
    are probed, and the merge is still exact."""
    from fingerprinting.engine import catalog as engine_catalog

    monkeypatch.setattr(engine_catalog, "IVF_THRESHOLD", 20)
    monkeypatch.setattr(catalog_index, "IVF_THRESHOLD", 20)
    monkeypatch.setattr(catalog_index, "IVF_NPROBE", 2)
    _write(951, 1)
    _write(953, 3)
    whole, sharded = catalog_index.open_current(951), catalog_index.open_current(953)
    assert whole.meta["kind"] == sharded.meta["kind"] == "ivf"
    assert faiss.extract_index_ivf(whole.faiss_index).nprobe == 2
    samples, _declared = _clips()["duplicate"]
    queries = whole.standardizer.transform(catalog_index.get_embedder().describe(samples).raw)
    exact = np.sort(queries @ np.asarray(whole.vectors).T, axis=1)[:, ::-1][:, :10]
    assert not np.array_equal(whole.nearest_segments(queries, 10)[0], exact)  # approximate indeed
    for k in (1, 10, 128):
        for a, b in zip(
            whole.nearest_segments(queries, k), sharded.nearest_segments(queries, k), strict=True
        ):
            np.testing.assert_array_equal(a, b)
    for name, (samples, declared) in _clips().items():
        assert _result(sharded, samples, declared) == _result(whole, samples, declared), name


def test_candidate_lists_merge_exactly(settings):
    """The merged candidate lists themselves (not only the attributions) equal the whole index's: FAISS
    neighbours with ties cut by segment id, and inverted-index postings with the catalog-wide
    max_postings cut."""
    _write(911, 1)
    _write(913, 3)
    whole, sharded = catalog_index.open_current(911), catalog_index.open_current(913)
    samples, _declared = _clips()["duplicate"]
    queries = whole.standardizer.transform(catalog_index.get_embedder().describe(samples).raw)
    for k in (1, 5, 40, whole.n_segments):
        for a, b in zip(
            whole.nearest_segments(queries, k), sharded.nearest_segments(queries, k), strict=True
        ):
            np.testing.assert_array_equal(a, b)
    clip_fp = chromaprint.fingerprint(samples) >> np.uint32(32 - CONFIG.chromaprint.key_bits)
    hashes = np.concatenate([whole.landmarks.rec_h[:3000], np.full(5, whole.landmarks.keys[0])])
    for limit in (1, 2, 3, 50, 10_000):  # small limits: keys over the limit in all shards together only
        for a, b in zip(
            whole.chromaprint.postings(clip_fp, limit),
            sharded.chromaprint.postings(clip_fp, limit),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(
            whole.landmarks.postings(hashes, limit), sharded.landmarks.postings(hashes, limit), strict=True
        ):
            np.testing.assert_array_equal(a, b)


def test_the_old_unsharded_layout_is_read_as_one_shard():
    version = _write(921, 1)
    storage = storages["indexes"]
    prefix = catalog_index.version_prefix(921, version)
    _folders, files = storage.listdir(prefix)
    assert {"meta.json", "faiss.index", "vectors.npy"} <= set(files)
    meta = json.loads(storage.open(f"{prefix}/meta.json").read())
    assert "shards" not in meta  # the layout every version before shards has
    old = catalog_index.open_current(921)
    assert catalog_index.load_shard(921, version, 0).version == version
    one = ShardedCatalog(
        version=old.version,
        meta=old.meta,
        shards=[LocalShard(old)],
        positions=[np.arange(old.n_recordings)],
        standardizer=old.standardizer,
        embedder=old.embedder,
        key_bits=CONFIG.chromaprint.key_bits,
    )
    for name in ("verbatim", "mix"):
        samples, declared = _clips()[name]
        assert _result(one, samples, declared) == _result(old, samples, declared)


def test_shards_are_stored_as_their_own_objects_reused_fetched_and_pruned(settings, tmp_path):
    storage = storages["indexes"]
    first = _write(931, 3, count=N_RECORDINGS - 1)
    meta = json.loads(storage.open(f"{catalog_index.version_prefix(931, first)}/meta.json").read())
    _folders, files = storage.listdir(catalog_index.version_prefix(931, first))
    assert files == ["meta.json"]  # a sharded version is its shard list
    names = [s["name"] for s in meta["shards"]]
    assert [s["shard"] for s in meta["shards"]] == [0, 1, 2] and all(s["count"] == 3 for s in meta["shards"])
    for k, name in enumerate(names):
        assert name.startswith(f"s{k}of3-")
        prefix = f"attribution/label-931/shards/{name}"
        shard = json.loads(storage.open(f"{prefix}/shard.json").read())
        assert shard["recordings"] and all(r["id"] % 3 == k for r in shard["recordings"])
        assert storage.exists(f"{prefix}/faiss.index") and storage.exists(f"{prefix}/lm_keys.npy")

    # One recording more: only its shard is built again; the others are the stored ones.
    previous = catalog_index.open_current(931)
    second = _write(931, 3, previous=previous)
    meta2 = json.loads(storage.open(f"{catalog_index.version_prefix(931, second)}/meta.json").read())
    changed = shard_of(_analyses()[-1][0], 3)
    for k, (a, b) in enumerate(zip(names, [s["name"] for s in meta2["shards"]], strict=True)):
        assert (a == b) == (k != changed), k

    # Another host: an empty cache fetches the version and its shards through the storage API.
    expected = _result(catalog_index.open_current(931), *_clips()["verbatim"])
    settings.INDEX_CACHE_DIR = tmp_path / "other-host-cache"
    catalog_index.forget_loaded()
    fetched = catalog_index.open_current(931)
    assert fetched.version == second
    assert sorted(
        p.name for p in (tmp_path / "other-host-cache" / "label-931" / "shards").iterdir()
    ) == sorted(s["name"] for s in meta2["shards"])
    assert _result(fetched, *_clips()["verbatim"]) == expected
    alone = catalog_index.load_shard(931, second, changed)
    assert alone.n_recordings == meta2["shards"][changed]["n_recordings"]

    # Pruning the first version deletes the shards only it listed; the cache keeps what it needs.
    assert catalog_index.prune_versions(931, keep=1) == [first]
    stored, _files = storage.listdir("attribution/label-931/shards")
    assert sorted(stored) == sorted(s["name"] for s in meta2["shards"])
    catalog_index.evict_cached(931, keep=1)
    assert catalog_index.open_current(931).version == second

    # Back to one index (the count set to 1): written whole from the sharded version; its shards go.
    third = _write(931, 1, previous=catalog_index.open_current(931))
    assert not isinstance(catalog_index.open_current(931), ShardedCatalog)
    top = json.loads(_result(catalog_index.open_current(931), *_clips()["verbatim"]))["shares"][0]
    assert top["position"] == json.loads(expected)["shares"][0]["position"]  # (a new version: a new null)
    assert catalog_index.prune_versions(931, keep=1) == [second]
    assert storage.listdir("attribution/label-931/shards")[0] == []
    assert catalog_index.current_version(931) == third


@pytest.mark.redis
@pytest.mark.slow
def test_shards_served_by_their_own_worker_pools_attribute_exactly_as_the_whole_index(settings, tmp_path):
    """Three real Celery workers, one per shard queue, each with its own cache (another host's): the
    attribution process maps no shard, asks their queues, and gets the whole index's attributions."""
    whole_version = _write(941, 1)
    _write(943, 3)
    whole = catalog_index.open_current(941)
    assert whole.version == whole_version
    celery = Path(sys.executable).parent / "celery"
    workers, logs = [], []
    try:
        for k in range(3):
            env = {
                **os.environ,
                "REDIS_URL": settings.REDIS_URL,
                "MEDIA_ROOT": str(settings.MEDIA_ROOT),
                "INDEX_CACHE_DIR": str(tmp_path / f"shard-{k}-host"),
                "DEBUG": "1",
                "PYTHONPATH": str(ROOT),
                **storage_env(),
            }
            logs.append((tmp_path / f"shard-{k}.log").open("w"))
            workers.append(
                subprocess.Popen(
                    [str(celery), "-A", "config", "worker", "-Q", f"attribution-shard-{k}", "--pool=solo"]
                    + ["--loglevel=INFO", "-n", f"shard{k}-{os.getpid()}@%h"],
                    cwd=ROOT,
                    env=env,
                    stdout=logs[-1],
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        settings.INDEX_SHARD_QUEUES = True
        settings.INDEX_SHARD_TIMEOUT_SECONDS = 180  # the first answers wait for the workers to start
        settings.INDEX_CACHE_DIR = tmp_path / "attribution-host"
        catalog_index.forget_loaded()
        queued = catalog_index.open_current(943)
        for name in ("verbatim", "mix", "unrelated"):
            samples, declared = _clips()[name]
            assert _result(queued, samples, declared) == _result(whole, samples, declared), name
        assert not (tmp_path / "attribution-host" / "label-943" / "shards").exists()  # it mapped none
        meta = json.loads(
            (tmp_path / "attribution-host" / "label-943" / queued.version / "meta.json").read_text()
        )
        for k in range(3):
            held = sorted(p.name for p in (tmp_path / f"shard-{k}-host" / "label-943" / "shards").iterdir())
            assert held == [meta["shards"][k]["name"]], k  # each shard worker fetched its shard only
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        for log in logs:
            log.close()
