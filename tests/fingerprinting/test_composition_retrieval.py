"""The composition lane's retrieval past `exact_patches`: an inverted file of the catalog's patches, 8
bits a dimension, finds a re-performed excerpt's source as the exact search does."""

import dataclasses

import numpy as np
import pytest

from fingerprinting.engine import alignment, composition
from fingerprinting.engine.config import CompositionConfig


def moving_chroma(rng, frames: int) -> np.ndarray:
    """Chroma that moves like music more than like noise: a few pitch classes at a time, changing
    every few frames."""
    held = np.repeat(rng.random((frames // 4 + 1, 12)) ** 4, 4, axis=0)[:frames]
    return alignment.normalise_frames(held.astype(np.float32))


class Catalog:
    """What retrieval reads of a catalog index: its recordings' chroma."""

    version = "test-composition-retrieval"

    def __init__(self, lengths: list[int], seed: int = 3):
        rng = np.random.default_rng(seed)
        self.chroma = [moving_chroma(rng, n) for n in lengths]
        self.n_recordings = len(lengths)

    def recording_chroma(self, position: int) -> np.ndarray:
        return self.chroma[position]

    def group_members(self, position: int) -> list[int]:
        return [position]


@pytest.fixture(scope="module")
def catalog():
    # 80 recordings of 2-4 min at 0.19 s a frame: about 12,000 patches.
    lengths = np.random.default_rng(5).integers(650, 1300, size=80).tolist()
    return Catalog(lengths)


def excerpt(catalog, position: int, start: int, semitones: int, rng) -> np.ndarray:
    part = catalog.chroma[position][start : start + 108]  # 20 s
    noisy = np.roll(part, semitones, axis=1) + 0.15 * rng.random(part.shape).astype(np.float32)
    return alignment.normalise_frames(noisy)


def test_the_approximate_index_is_used_past_exact_patches_and_is_compact(catalog):
    exact = composition.PatchIndex.build(catalog, CompositionConfig())
    approximate = composition.PatchIndex.build(
        catalog, CompositionConfig(exact_patches=1000, approximate_sample=80)
    )
    assert type(exact.faiss_index).__name__ == "IndexFlatIP"
    assert type(approximate.faiss_index).__name__ == "IndexIVFScalarQuantizer"
    assert approximate.faiss_index.ntotal == exact.faiss_index.ntotal == len(exact.recording)
    assert np.array_equal(approximate.recording, exact.recording)  # patches added recording by recording


def test_the_approximate_index_retrieves_the_source_as_the_exact_one_does(catalog):
    rng = np.random.default_rng(9)
    config = CompositionConfig()
    built = {
        "exact": composition.PatchIndex.build(catalog, config),
        "approximate": composition.PatchIndex.build(
            catalog, dataclasses.replace(config, exact_patches=1000, approximate_sample=80, ivf_probe=24)
        ),
    }
    first = {"exact": 0, "approximate": 0}
    for _trial in range(12):
        source = int(rng.integers(catalog.n_recordings))
        clip = excerpt(catalog, source, int(rng.integers(0, 500)), int(rng.integers(-5, 7)), rng)
        for name, patches in built.items():
            catalog._composition_patches = patches  # where composition.patch_index keeps it
            candidates = composition.retrieve(catalog, clip, config, frozenset())
            assert source in candidates, name
            first[name] += candidates[0] == source
    assert first["approximate"] >= first["exact"] - 1 >= 9


def test_a_catalog_just_past_exact_patches_is_searched_about_as_widely_as_exact_search():
    config = CompositionConfig(exact_patches=50_000, ivf_probe=128)
    assert composition.probed_lists(229, 52_771, config) == 217  # 95 % of the lists, not 128 of them
    assert composition.probed_lists(2_987, 8_925_677, config) == 128  # 50,000 recordings: ivf_probe
    assert composition.probed_lists(100, 60_000, config) == 100  # never more lists than there are


def test_empty_whitening_directions_are_dropped_not_scaled_into_subnormal_noise(catalog):
    """About half the raw patch dimensions copy others (the 2D FFT magnitude is symmetric); the empty
    directions that leaves are zeroed, so no whitened value is rounding noise (whose products FAISS
    computes as slow subnormal floats), and the cosines between patches are what they were."""
    config = CompositionConfig()
    raw = np.concatenate([composition.catalog_patches(catalog, p, config) for p in range(20)])
    mean, whitening = composition.whitening_of(raw, config.whitening_floor)
    whitened = composition.whiten(raw, mean, whitening)
    empty = ~whitening.any(axis=0)
    assert 0.3 * raw.shape[1] < empty.sum() < 0.7 * raw.shape[1]
    assert np.all(whitened[:, empty] == 0.0)
    # Every other direction is a feature: its typical value is far from rounding noise.
    assert np.median(np.abs(whitened[:, ~empty]), axis=0).min() > 1e-6

    # The same whitening with the empty directions floored like the others, as before: the same cosines.
    centred = (raw - raw.mean(axis=0)).astype(np.float64)
    values, vectors = np.linalg.eigh(centred.T @ centred / len(centred))
    floored = (vectors / np.sqrt(np.maximum(values, config.whitening_floor * values.max()))).astype(
        np.float32
    )
    before = composition.whiten(raw, mean, floored)
    assert np.allclose(whitened @ whitened[:50].T, before @ before[:50].T, atol=1e-5)
