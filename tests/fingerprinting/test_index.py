import os

import pytest

from catalog.models import RecordingStatus
from catalog.services import recording_attach_audio
from demo.synth import write_wav
from fingerprinting import index as catalog_index
from fingerprinting.engine import catalog as engine_catalog
from fingerprinting.models import IndexVersion
from fingerprinting.services import (
    catalog_index_update,
    index_activate,
    index_rebuild,
    recording_index,
    recording_unindex,
)
from tests.factories import RecordingFactory
from tests.fingerprinting.conftest import SR, recording_audio

pytestmark = pytest.mark.django_db


def test_index_versions_are_swapped_atomically_and_kept(label, catalog, indexed, tmp_path):
    first = catalog_index.open_current(label.pk)
    assert first.version == indexed.version
    assert first.n_recordings == len(catalog)
    assert all(r.status == RecordingStatus.INDEXED for r in catalog)
    assert catalog_index_update(label=label) is None  # nothing pending: re-running changes nothing

    # Incremental add: a new version with one more recording; the worker's cached index notices it.
    extra = RecordingFactory(label=label, title="Late addition")
    path = tmp_path / "late.wav"
    write_wav(path, recording_audio(20), SR)
    recording_attach_audio(recording=extra, path=path)
    second = recording_index(recording=extra)
    assert second.version != first.version and second.parent == first.version
    assert recording_index(recording=extra) is None  # already indexed: a second run does nothing
    loaded = catalog_index.open_current(label.pk)
    assert loaded.version == second.version and loaded.n_recordings == len(catalog) + 1
    assert loaded.standardizer.mean.tolist() == first.standardizer.mean.tolist()  # incremental: same scaling
    assert IndexVersion.objects.get(label=label, is_current=True).version == second.version
    assert IndexVersion.objects.filter(label=label).count() == 2

    # The old version's files are intact and loadable (a worker may still be reading them).
    old = catalog_index.load_version(label.pk, first.version)
    assert old.n_recordings == len(catalog)

    # Removal by id: a new version without the recording's segments.
    third = recording_unindex(recording=catalog[0])
    loaded = catalog_index.open_current(label.pk)
    assert loaded.version == third.version
    assert catalog[0].pk not in {r["id"] for r in loaded.recordings}
    assert not any(int(i) >> engine_catalog.SEGMENT_BITS == catalog[0].pk for i in loaded.seg_ids)
    assert loaded.faiss_index.ntotal == loaded.meta["n_segments"]

    # Rolling back is one atomic pointer swap.
    index_activate(label=label, version=second.version)
    assert catalog_index.current_version(label.pk) == second.version
    assert catalog_index.open_current(label.pk).version == second.version
    assert list(
        IndexVersion.objects.filter(label=label, is_current=True).values_list("version", flat=True)
    ) == [second.version]


def test_pointer_swap_never_exposes_a_half_written_version(label, catalog, indexed, monkeypatch):
    before = catalog_index.current_version(label.pk)

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(catalog_index, "swap_current", crash)
    with pytest.raises(RuntimeError):
        index_rebuild(label=label)
    assert catalog_index.current_version(label.pk) == before
    assert not [p for p in os.listdir(catalog_index.cache_dir(label.pk)) if p.startswith(".tmp-")]
    assert catalog_index.open_current(label.pk).version == before


def test_rebuild_refits_and_reproduces_the_same_content_version(label, catalog, indexed):
    rebuilt = index_rebuild(label=label)
    assert rebuilt.version != indexed.version
    # Same recordings, same engine: the content digest part of the name is the same.
    assert rebuilt.version.split("-")[1] == indexed.version.split("-")[1]
    assert catalog_index.prune_versions(label.pk, keep=1) == [indexed.version]


def test_standardizer_round_trip_keeps_the_column_order():
    import numpy as np

    from fingerprinting.engine.embedder import Standardizer, get_embedder

    embedder = get_embedder()
    raw = np.random.default_rng(0).normal(size=(20, embedder.dim)).astype(np.float32)
    fitted = Standardizer.fit(raw, embedder)
    import json

    restored = Standardizer.from_json(json.loads(json.dumps(fitted.to_json(), sort_keys=True)))
    assert list(restored.aspects) == list(embedder.aspects)
    assert np.array_equal(restored.transform(raw), fitted.transform(raw))


def test_ivf_index_above_the_threshold_supports_incremental_add_and_removal(
    label, catalog, tmp_path, monkeypatch
):
    from fingerprinting import engine
    from fingerprinting.engine.signal import ANALYSIS_SR, resample

    monkeypatch.setattr(engine_catalog, "IVF_THRESHOLD", 10)
    first = catalog_index_update(label=label)
    assert first.kind == "ivf"
    loaded = catalog_index.open_current(label.pk)
    excerpt = resample(recording_audio(5)[3 * SR : 13 * SR], SR, ANALYSIS_SR)
    result = engine.attribute(loaded, excerpt)
    assert loaded.recordings[result.shares[0].position]["id"] == catalog[5].pk

    extra = RecordingFactory(label=label, title="IVF addition")
    path = tmp_path / "ivf.wav"
    write_wav(path, recording_audio(21), SR)
    recording_attach_audio(recording=extra, path=path)
    second = recording_index(recording=extra)
    assert second.kind == "ivf" and second.parent == first.version
    third = recording_unindex(recording=catalog[1])
    loaded = catalog_index.open_current(label.pk)
    assert loaded.version == third.version
    assert loaded.faiss_index.ntotal == loaded.meta["n_segments"]
    removed = {int(i) for i in loaded.seg_ids if int(i) >> engine_catalog.SEGMENT_BITS == catalog[1].pk}
    assert not removed


def test_landmark_peaks_round_trip_and_explained_peaks_are_removed():
    import numpy as np

    from fingerprinting.engine import DEFAULT_CONFIG, landmarks
    from fingerprinting.engine.signal import (
        ANALYSIS_SR,
        LOW_BIN,
        log_spectrogram,
        resample,
        spectral_peaks,
        strongest_per_second,
    )

    lm = DEFAULT_CONFIG.landmark
    log = log_spectrogram(resample(recording_audio(0)[: 10 * SR], SR, ANALYSIS_SR))
    all_t, all_f, strength = spectral_peaks(log, (lm.peak_frames, lm.peak_bins))
    t, f = strongest_per_second(all_t, all_f, strength, lm.catalog_peaks_per_second)
    h, anchors = landmarks.pair_hashes(t, f, lm)
    rt, rf = landmarks.peaks_of_hashes(h, anchors)
    peak_set = set(zip(t.tolist(), f.tolist(), strict=True))
    assert set(zip(rt.tolist(), rf.tolist(), strict=True)) <= peak_set
    rest_t, _rest_f, _rest_s = landmarks.without_explained(all_t, all_f, strength, [(rt, rf)])
    assert len(rest_t) < len(all_t) - len(rt) // 2
    assert np.all(f >= LOW_BIN)


def test_landmark_match_with_no_votes_finds_nothing():
    """A clip whose hashes all belong to excluded recordings (the second pass after every source was
    found, or a leave-one-out query) has no votes at all: no run, no error."""
    import numpy as np

    from fingerprinting.engine import DEFAULT_CONFIG, landmarks

    h = np.array([5, 9, 12], np.uint32)
    t = np.array([0, 3, 7], np.int32)
    index = landmarks.LandmarkIndex.build([(h, t)])
    assert landmarks.match(index, (h, t), DEFAULT_CONFIG.landmark, exclude=frozenset({0})) == []
    assert (
        landmarks.match(index, (np.zeros(0, np.uint32), np.zeros(0, np.int32)), DEFAULT_CONFIG.landmark) == []
    )
