"""Where an index version's leave-one-out calibration cuts its queries (engine.calibration.query_plan):
`per_recording` excerpts from each sampled recording, inside it, at most `max_queries`, one draw per
seed (the version's name unless bench/calibration_stability.py gives another)."""

import dataclasses
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from fingerprinting.engine.calibration import query_plan
from fingerprinting.engine.config import CalibrationConfig

CONFIG = CalibrationConfig()


def catalog(durations: list[float], version: str = "v00001-0123456789") -> SimpleNamespace:
    return SimpleNamespace(
        version=version, n_recordings=len(durations), recordings=[{"duration": d} for d in durations]
    )


def test_each_sampled_recording_gives_excerpts_spread_over_it():
    plan = query_plan(catalog([150.0] * 45), CONFIG)
    assert len(plan) == 45 * CONFIG.per_recording
    slot = (150.0 - CONFIG.query_seconds) / CONFIG.per_recording
    for position in range(45):
        starts = sorted(start for p, start in plan if p == position)
        assert [int(start // slot) for start in starts] == list(range(CONFIG.per_recording))


def test_the_version_name_seeds_the_draw_unless_a_seed_is_given():
    durations = [95.0 + 3 * k for k in range(40)]
    first = query_plan(catalog(durations, "v00001-aaaaaaaaaa"), CONFIG)
    assert query_plan(catalog(durations, "v00001-aaaaaaaaaa"), CONFIG) == first
    assert query_plan(catalog(durations, "v00002-bbbbbbbbbb"), CONFIG) != first
    seeded = query_plan(catalog(durations, "v00001-aaaaaaaaaa"), CONFIG, seed=7)
    assert seeded == query_plan(catalog(durations, "v00002-bbbbbbbbbb"), CONFIG, seed=7) != first


@settings(max_examples=40, deadline=None)
@given(
    durations=st.lists(st.floats(3.0, 900.0), min_size=2, max_size=200),
    max_queries=st.integers(12, 600),
    seed=st.integers(0, 2**31),
)
def test_the_plan_stays_inside_each_recording_and_under_the_cap(durations, max_queries, seed):
    config = dataclasses.replace(CONFIG, max_queries=max_queries)
    plan = query_plan(catalog(durations), config, seed)
    wanted = min(max_queries, config.per_recording * len(durations))
    assert wanted - config.per_recording < len(plan) <= wanted
    for position, start in plan:
        assert 0.0 <= start <= max(0.0, durations[position] - config.query_seconds)
