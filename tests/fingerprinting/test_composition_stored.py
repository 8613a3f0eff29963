"""The composition lane's patch index is stored with an index version written with the lane on, and a
worker that loads the version reads it instead of building its own (fingerprinting.index,
engine.composition.patch_index); with the lane off, or with other patch settings, nothing is read.

Versions are written straight through fingerprinting.index, as the indexing service does, for labels
that have no database rows (the index storage does not need them), from the synthesized pieces of
test_composition_lane."""

import dataclasses
import json
from functools import lru_cache

import numpy as np
import pytest
from django.core.files.storage import storages

from fingerprinting import engine
from fingerprinting import index as catalog_index
from fingerprinting.engine import composition
from fingerprinting.engine.config import EngineConfig
from fingerprinting.engine.shards import ShardedCatalog
from tests.fingerprinting.conftest import write_analysed_version
from tests.fingerprinting.test_composition_lane import ON, SECONDS, SEEDS, piece, reperformed

PATCH_FILES = {
    "composition.index",
    "composition_recording.npy",
    "composition_mean.npy",
    "composition_whitening.npy",
}
TARGET = 3


@lru_cache(maxsize=1)
def _analyses() -> tuple:
    embedder = catalog_index.get_embedder()
    return tuple(
        engine.analyse_recording(
            piece(seed),
            recording_id=position + 1,
            isrc=f"QZTST{seed:07d}",
            title=f"Piece {seed}",
            embedder=embedder,
            config=ON,  # the lane adds nothing to a recording's analysis
        )
        for position, seed in enumerate(SEEDS)
    )


def _write(label_id: int, config: EngineConfig, shards: int = 1, pieces=None, previous=None) -> str:
    """A version of the pieces (positions in SEEDS; all by default): a whole build or, given the
    previous version, an update (its standardizer kept, as the indexing service does)."""
    pieces = range(len(SEEDS)) if pieces is None else pieces
    entries = [
        ({"id": n + 1, "isrc": a.isrc, "title": a.title, "duration": SECONDS, "sha": f"sha-{n}"}, a)
        for n, a in enumerate(_analyses())
        if n in pieces
    ]
    return write_analysed_version(
        label_id,
        entries,
        config=config,
        audio=lambda rid: piece(SEEDS[rid - 1]),
        previous=previous,
        shards=shards,
    )


def _stored(label_id: int, version: str) -> tuple[set[str], dict]:
    storage = storages["indexes"]
    prefix = catalog_index.version_prefix(label_id, version)
    _folders, files = storage.listdir(prefix)
    return set(files), json.loads(storage.open(f"{prefix}/meta.json").read())


def _decision(index, clip) -> str:
    """What an attribution stores of its shares and review, as canonical JSON."""
    result = engine.attribute(index, clip, config=ON)
    return json.dumps(
        {
            "shares": [dataclasses.asdict(s) for s in result.shares],
            "review": dataclasses.asdict(result.review),
        },
        sort_keys=True,
    )


def _refuse_builds(monkeypatch) -> None:
    def refuse(*_args, **_kwargs):
        raise AssertionError("the patch index was built although the version stores one")

    monkeypatch.setattr(composition.PatchIndex, "build", refuse)


@pytest.mark.parametrize("shards", [1, 2], ids=["whole", "sharded"])
def test_a_version_written_with_the_lane_on_stores_its_patch_index_and_workers_read_it(
    shards, settings, tmp_path, monkeypatch
):
    label_id = 950 + shards
    version = _write(label_id, ON, shards=shards)
    files, meta = _stored(label_id, version)
    assert files >= PATCH_FILES  # in the version's own folder, sharded or not
    assert meta["composition_patches"] == composition.patch_params(ON.composition)

    # Another host: an empty cache fetches the version through the storage API and reads the stored
    # patch index; nothing builds one.
    settings.INDEX_CACHE_DIR = tmp_path / "other-host-cache"
    catalog_index.forget_loaded()
    loaded = catalog_index.open_current(label_id, ON)
    assert isinstance(loaded, ShardedCatalog) == (shards > 1)
    clip = reperformed(SEEDS[TARGET], tempo=1.08, semitones=2, lead="clarinet", pad="organ", bass="square")
    with monkeypatch.context() as patched:
        _refuse_builds(patched)
        stored = _decision(loaded, clip)
    top = json.loads(stored)["shares"][0]
    assert top["position"] == TARGET and top["right"] == "composition"

    # The same version with its patch index built in memory instead decides the same, share for share.
    rebuilt = catalog_index.load_version(label_id, version, ON)
    rebuilt.stored_patches = None
    assert _decision(rebuilt, clip) == stored
    assert rebuilt._composition_patches.faiss_index.ntotal == loaded._composition_patches.faiss_index.ntotal


def test_a_stored_patch_index_serves_only_the_settings_it_was_built_with(monkeypatch):
    version = _write(953, ON)
    loaded = catalog_index.load_version(953, version, ON)
    assert loaded.stored_patches(composition.patch_params(ON.composition)) is not None
    other = dataclasses.replace(ON.composition, catalog_hop_frames=ON.composition.catalog_hop_frames + 1)
    assert loaded.stored_patches(composition.patch_params(other)) is None
    newer = {**composition.patch_params(ON.composition), "format": composition.PATCH_INDEX_FORMAT + 1}
    assert loaded.stored_patches(newer) is None  # a patch index of a former kind is not read
    built = []
    real_build = composition.PatchIndex.build.__func__
    monkeypatch.setattr(
        composition.PatchIndex,
        "build",
        classmethod(lambda cls, index, config: built.append(config) or real_build(cls, index, config)),
    )
    patches = composition.patch_index(loaded, other)  # other settings: built here, as before storage
    assert built == [other] and patches.faiss_index.ntotal > 0


def test_a_version_written_with_the_lane_off_stores_no_patch_index():
    version = _write(954, engine.DEFAULT_CONFIG)
    files, meta = _stored(954, version)
    assert not files & PATCH_FILES and "composition_patches" not in meta
    assert catalog_index.load_version(954, version).stored_patches is None


APPROXIMATE = dataclasses.replace(ON, composition=dataclasses.replace(ON.composition, exact_patches=0))


def _patches_per_recording(patches) -> list[int]:
    return np.bincount(patches.recording[patches.recording >= 0]).tolist()


def test_an_update_brings_the_parents_inverted_patch_index_to_the_new_recordings(monkeypatch):
    """Versions after the first update the parent's stored inverted file (as the segment index's IVF is
    updated) instead of building it whole: recordings added, removed, renumbered."""
    config = APPROXIMATE.composition  # the inverted file, forced on this small catalog
    first = _write(955, APPROXIMATE, pieces=range(1, len(SEEDS) - 1))  # neither the first piece nor the last
    for pieces in (range(1, len(SEEDS)), range(2, len(SEEDS))):  # the last added; then the second gone
        parent = catalog_index.open_current(955, APPROXIMATE)
        with monkeypatch.context() as patched:
            _refuse_builds(patched)  # the calibration's queries and the stored index use the update
            version = _write(955, APPROXIMATE, pieces=pieces, previous=parent)
        loaded = catalog_index.load_version(955, version, APPROXIMATE)
        with monkeypatch.context() as patched:
            _refuse_builds(patched)
            updated = composition.patch_index(loaded, config)  # the stored one
        whole = composition.PatchIndex.build(loaded, config)
        # Every recording holds the patches a whole build gives it, under its new position.
        assert _patches_per_recording(updated) == _patches_per_recording(whole)
        assert updated.faiss_index.ntotal == whole.faiss_index.ntotal

    # The first version's whitening is kept; the removed recording's patch ids are never reused.
    original = composition.patch_index(catalog_index.load_version(955, first, APPROXIMATE), config)
    assert np.array_equal(updated.mean, original.mean) and np.array_equal(
        updated.whitening, original.whitening
    )
    assert (updated.recording < 0).sum() == len(updated.recording) - updated.faiss_index.ntotal > 0
    # A re-performance of the recording the update added is found in it.
    clip = reperformed(SEEDS[-1], tempo=1.08, semitones=2, lead="clarinet", pad="organ", bass="square")
    top = engine.attribute(loaded, clip, config=APPROXIMATE).shares[0]
    assert top.position == loaded.n_recordings - 1 and top.right == "composition"


def test_a_whole_build_where_the_update_cannot_hold():
    lists, trained_for = 9, 351  # a small catalog's lists: capped at its training patches / 39
    assert not composition.outgrown(lists, 4 * trained_for)
    assert composition.outgrown(lists, 4 * trained_for + 1)
    assert composition.outgrown(3000, 4 * 3000 * 3000 + 1) and not composition.outgrown(3000, 3000 * 3000)
