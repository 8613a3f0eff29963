"""Explaining away (fingerprinting.engine.explain): a catalog track that reuses another's audio under
new material (a medley, a loop laid under a new part) does not take half of a clip of the original;
a clip that really mixes two catalog recordings keeps both."""

import numpy as np
import pytest

from catalog.services import recording_attach_audio
from demo import transforms as T
from demo.synth import write_wav
from fingerprinting import engine
from fingerprinting import index as catalog_index
from fingerprinting.engine.signal import ANALYSIS_SR, resample
from fingerprinting.services import catalog_index_update
from tests.factories import RecordingFactory
from tests.fingerprinting.conftest import SR, recording_audio, unrelated_audio

pytestmark = pytest.mark.django_db


def medley() -> np.ndarray:
    """12 s of new material, then 20 s of recording 0 (from its 10th second) with a new part laid
    over it, 3 dB under the original."""
    reused = recording_audio(0)[10 * SR : 30 * SR]
    return np.concatenate([unrelated_audio(41, 12.0), T.mix(reused, unrelated_audio(42, 20.0), -3.0)])


@pytest.fixture
def medley_catalog(label, tmp_path):
    recordings = {}
    sources = {f"piece-{n}": recording_audio(n) for n in range(5)} | {"medley": medley()}
    for name, samples in sources.items():
        recording = RecordingFactory(label=label, title=name, duration_seconds=len(samples) / SR)
        path = tmp_path / f"{name}.wav"
        write_wav(path, samples, SR)
        recording_attach_audio(recording=recording, path=path)
        recordings[name] = recording
    catalog_index_update(label=label)
    index = catalog_index.open_current(label.pk)
    positions = {
        name: next(i for i, r in enumerate(index.recordings) if r["id"] == rec.pk)
        for name, rec in recordings.items()
    }
    return index, positions


def attribute(index, samples: np.ndarray):
    return engine.attribute(index, resample(samples, SR, ANALYSIS_SR))


def test_a_track_reusing_the_original_under_new_material_is_explained_away(medley_catalog):
    index, positions = medley_catalog
    clip = recording_audio(0)[12 * SR : 27 * SR]  # inside the stretch the medley reuses
    result = attribute(index, clip)
    shares = {s.position: s.share for s in result.shares}
    assert result.shares[0].position == positions["piece-0"]
    assert shares[positions["piece-0"]] >= 0.9
    assert shares.get(positions["medley"], 0.0) < 0.05
    cuts = result.evidence["verbatim"]["explained_away"]
    medley_isrc = index.recordings[positions["medley"]]["isrc"]
    assert cuts and all(cut["isrc"] == medley_isrc for cut in cuts)
    assert {cut["explained_by"] for cut in cuts} == {index.recordings[positions["piece-0"]]["isrc"]}
    for cut in cuts:  # the medley's own peaks are not in the clip once the original's are taken out
        assert cut["kappa_without"] < cut["kappa"] < cut["explained_by_kappa"]
        assert cut["shared_z"] >= 3.0  # and the two recordings hold the same material there


def test_a_clip_of_the_medley_itself_keeps_the_medley_first(medley_catalog):
    """The medley's stretch with its new part: the medley has peaks of its own (the new part), so it
    is not explained away by the original it contains."""
    index, positions = medley_catalog
    clip = medley()[14 * SR : 29 * SR]
    result = attribute(index, clip)
    assert result.shares[0].position == positions["medley"]
    assert result.shares[0].share >= 0.5
    assert all(
        cut["isrc"] != index.recordings[positions["medley"]]["isrc"]
        for cut in result.evidence["verbatim"]["explained_away"]
    )


def test_a_mix_of_two_catalog_recordings_keeps_both(medley_catalog):
    index, positions = medley_catalog
    clip = T.mix(recording_audio(1)[3 * SR : 18 * SR], recording_audio(2)[8 * SR : 23 * SR], -3.0)
    result = attribute(index, clip)
    top_two = {s.position for s in result.shares[:2]}
    assert top_two == {positions["piece-1"], positions["piece-2"]}
    assert result.evidence["verbatim"]["explained_away"] == []
