"""The composition lane (engine.composition): a catalog work re-performed with other sounds is found
with right `composition` when the lane is on; unrelated music is not; and with the lane off (the
default) nothing of the engine's output changes.

Engine level (no database): a small catalog of synthesized pieces, indexed and calibrated in memory
as `fingerprinting.index` does, and re-performances made here by `demo.synth` with other timbres, at
another tempo and in another key, without drums.
"""

import dataclasses
from functools import lru_cache

import numpy as np
import pytest

from demo.synth import synthesize
from fingerprinting import engine
from fingerprinting.engine import composition, lines
from fingerprinting.engine.config import EngineConfig
from fingerprinting.engine.embedder import get_embedder
from fingerprinting.engine.signal import ANALYSIS_SR

SR = ANALYSIS_SR
SEEDS = tuple(range(700, 712))  # 12 pieces: half are a clip's candidates, half its null
SECONDS = 40.0
ON = dataclasses.replace(
    engine.DEFAULT_CONFIG, composition=dataclasses.replace(engine.DEFAULT_CONFIG.composition, enabled=True)
)


@lru_cache(maxsize=32)
def piece(seed: int) -> np.ndarray:
    return synthesize(seed, SECONDS, sr=SR)


def build_index(config: EngineConfig):
    embedder = get_embedder()
    entries = []
    for position, seed in enumerate(SEEDS):
        analysis = engine.analyse_recording(
            piece(seed),
            recording_id=position + 1,
            isrc=f"QZTST{seed:07d}",
            title=f"Piece {seed}",
            embedder=embedder,
            config=config,
        )
        row = {"id": position + 1, "isrc": analysis.isrc, "title": analysis.title, "duration": SECONDS}
        entries.append((row, analysis))
    built = engine.build_catalog(entries, standardizer=None, embedder=embedder, config=config)
    meta = {"recordings": [row for row, _a in entries], "standardizer": built.standardizer.to_json()}
    index = engine.catalog_from_arrays(
        version="test-composition",
        meta=meta,
        arrays=built.arrays,
        faiss_index=built.faiss_index,
        embedder=embedder,
        config=config,
    )
    index.meta.update(engine.finish_index(index, config=config, audio=lambda p: piece(SEEDS[p])))
    return index


@pytest.fixture(scope="module")
def index_on():
    return build_index(ON)


@pytest.fixture(scope="module")
def index_off():
    return build_index(engine.DEFAULT_CONFIG)


def reperformed(seed: int, *, start: float = 6.0, seconds: float = 20.0, **how) -> np.ndarray:
    whole = synthesize(seed, start + seconds + 1.0, sr=SR, drums=False, **how)
    return whole[int(start * SR) : int((start + seconds) * SR)]


def test_a_reperformed_work_is_found_with_right_composition_when_the_lane_is_on(index_on):
    assert "composition" in index_on.calibration["lanes"]  # calibrated like every lane
    target = 3
    clip = reperformed(SEEDS[target], tempo=1.08, semitones=2, lead="clarinet", pad="organ", bass="square")
    result = engine.attribute(index_on, clip, config=ON)

    top = result.shares[0]
    assert top.position == target
    assert top.right == "composition" and top.lane == "composition"
    runs = top.evidence["verbatim"]["runs"]
    assert runs and all(run["method"] == composition.LANE for run in runs)
    run = runs[0]
    assert run["false_alarm"] <= ON.evidence.max_false_alarm
    assert run["semitones"] == 2 and run["tempo"] == pytest.approx(1.08, abs=0.04)
    # The run's score is its z plus its lead over every other recording aligned (lead_weight 1).
    assert run["lead"] > 0 and run["score"] == pytest.approx(run["z"] + run["lead"], abs=2e-3)
    # Lead, pad and bass re-performed: every line matched, from the clip's bass and upper registers.
    assert run["line"] == "all" and run["matched"] == composition.LINE_TEXT["all"]
    # The 20 s clip holds 4 phrases at 1.08x; most follow the recording at the run's alignment (other
    # timbres move a phrase's chroma, and 1.08 lies between two aligned tempo factors).
    assert run["phrases"] == 4 and run["phrases_agreeing"] >= 3
    assert 0.05 < run["bass_share"] < 0.9 and min(run["bass_alignment"], run["upper_alignment"]) > 0.2
    assert result.evidence["verbatim"]["lanes"]["composition"]["kept"] >= 1
    # A person confirms a composition share (config.composition.auto_accept is off).
    assert result.review.state == "needs_review"
    assert any(r["code"] == "composition_only" for r in result.review.reasons)


def test_unrelated_music_gets_no_composition_share(index_on, monkeypatch):
    # Which line a run matched is worked out for runs kept as evidence only: here, for none.
    described = []
    monkeypatch.setattr(lines, "registers", lambda samples: described.append(len(samples)))
    for seed in (910_001, 910_002, 910_003):
        clip = reperformed(seed, lead="flute", pad="bell", bass="organ")
        result = engine.attribute(index_on, clip, config=ON)
        assert not [s for s in result.shares if s.right == "composition"], seed
        strongest = result.evidence["verbatim"]["lanes"]["composition"]["strongest"]
        assert strongest is not None and "line" not in strongest  # aligned, not kept: no line named
    assert described == []


def test_with_the_lane_off_index_and_attribution_are_unchanged(index_off, monkeypatch):
    assert "composition" not in index_off.calibration["lanes"]
    assert "composition" not in engine.DEFAULT_CONFIG.as_dict()  # the digest of engines before the lane
    assert EngineConfig().digest() == engine.DEFAULT_CONFIG.digest()

    def refuse(*_args, **_kwargs):
        raise AssertionError("the composition lane ran while off")

    monkeypatch.setattr(composition, "align", refuse)
    monkeypatch.setattr(composition.PatchIndex, "build", refuse)
    clip = reperformed(SEEDS[3], tempo=1.08, semitones=2, lead="clarinet", pad="organ", bass="square")
    result = engine.attribute(index_off, clip, config=engine.DEFAULT_CONFIG)
    assert "composition" not in result.evidence["verbatim"]["lanes"]
    assert all(s.right == "recording" and s.lane != "composition" for s in result.shares)
    # A verbatim excerpt is attributed as before (a recording share).
    excerpt = piece(SEEDS[5])[10 * SR : 25 * SR]
    verbatim = engine.attribute(index_off, excerpt, config=engine.DEFAULT_CONFIG)
    assert verbatim.shares[0].position == 5 and verbatim.shares[0].right == "recording"


def test_the_lead_is_a_candidates_z_over_the_best_other_recording_outside_its_group():
    # positions 0-2 are candidates, 3-5 the clip's null; 0 and 4 are near-duplicates (one group)
    groups = {0: [0, 4], 4: [0, 4]}
    z = np.array([9.0, 4.0, 3.0, 1.0, 8.5, 2.0])
    lead = composition.lead_of(z, [0, 1, 2, 3, 4, 5], 3, lambda p: groups.get(p, [p]))
    # 0's own near-duplicate (z 8.5) does not count against it; its lead is over 1 (z 4)
    assert lead.tolist() == pytest.approx([5.0, 4.0 - 9.0, 3.0 - 9.0])
    # a lone candidate keeps its z
    assert composition.lead_of(np.array([2.5]), [7], 1, lambda p: [p]).tolist() == [2.5]


def test_a_clip_aligning_equally_with_two_works_leads_with_neither():
    z = np.array([8.0, 7.6, 0.5, -0.3])
    lead = composition.lead_of(z, [10, 11, 12, 13], 2, lambda p: [p])
    assert lead.max() == pytest.approx(0.4)


def test_a_calibration_of_another_composition_score_is_not_used(index_on):
    from fingerprinting.engine.calibration import Calibration

    assert index_on.calibration["composition_score"] == composition.score_name(ON.composition)
    current = Calibration.of(index_on.meta, ON)
    assert current.nulls["composition"].method.startswith("leave-one-out")
    # An index calibrated when the lane's score was the z alone (no composition_score stored): its
    # composition tail is in other units, so the lane's prior stands in for it until the next build.
    older = {
        **index_on.meta,
        "calibration": {k: v for k, v in index_on.calibration.items() if k != "composition_score"},
    }
    assert Calibration.of(older, ON).nulls["composition"].method.startswith("prior")
    assert Calibration.of(older, ON).nulls["chromaprint"] == current.nulls["chromaprint"]
