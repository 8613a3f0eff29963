from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fingerprinting.engine.shares import ONE, Span
from fingerprinting.engine.shares import combine as _combine
from fingerprinting.engine.shares import quantize as _quantize
from fingerprinting.engine.shares import rank as _rank
from fingerprinting.models import SHARE_PLACES


def combine(**kwargs):
    return _combine(**{"null_mass": 0.5, **kwargs})


def quantize(values):
    return _quantize(values, places=SHARE_PLACES)


def rank(totals):
    return _rank(totals, min_share=0.01, max_shares=10)


def test_worked_example_two_recordings_one_after_the_other():
    # 20 s clip: recording 1 reused over 0-10 s, recording 2 over 10-20 s, no style evidence.
    verbatim, style = combine(
        duration=20.0,
        spans=[Span(1, 0.0, 10.0), Span(2, 10.0, 20.0)],
        windows=[(0.0, 8.0), (4.0, 12.0), (8.0, 16.0), (12.0, 20.0)],
        candidates=[],
        excess=np.zeros((4, 0)),
    )
    assert verbatim == {1: 0.5, 2: 0.5}
    assert style == {}


def test_worked_example_overlapping_sources_split_equally_and_style_takes_the_rest():
    # 10 s clip: recordings 1 and 2 both over 0-5 s (a mashup); 5-10 s only style evidence for 3
    # with an excess of 3 over the null threshold: it takes 9 / (9 + 1) of that time.
    verbatim, style = combine(
        duration=10.0,
        spans=[Span(1, 0.0, 5.0), Span(2, 0.0, 5.0)],
        windows=[(0.0, 10.0)],
        candidates=[3],
        excess=np.array([[3.0]]),
        null_mass=1.0,
    )
    assert verbatim == {1: 0.25, 2: 0.25}
    assert abs(style[3] - 0.5 * 0.9) < 1e-12


def test_no_evidence_means_everything_is_unattributed():
    shares, remainder = quantize([])
    assert shares == [] and remainder == ONE


evidence = st.fixed_dictionaries(
    {
        "duration": st.floats(3.0, 120.0),
        "spans": st.lists(
            st.tuples(st.integers(0, 30), st.floats(0.0, 120.0), st.floats(0.0, 30.0)), max_size=20
        ),
        "n_windows": st.integers(1, 12),
        "candidates": st.lists(st.integers(0, 40), unique=True, max_size=16),
        "seed": st.integers(0, 2**31),
    }
)


@settings(max_examples=200, deadline=None)
@given(evidence)
def test_shares_plus_remainder_is_exactly_one(ev):
    rng = np.random.default_rng(ev["seed"])
    duration = ev["duration"]
    windows = [
        (k * duration / ev["n_windows"], (k + 1) * duration / ev["n_windows"]) for k in range(ev["n_windows"])
    ]
    spans = [Span(r, start, start + length) for r, start, length in ev["spans"]]
    excess = rng.exponential(2.0, size=(len(windows), len(ev["candidates"]))) * (
        rng.random((len(windows), len(ev["candidates"]))) < 0.5
    )
    verbatim, style = combine(
        duration=duration, spans=spans, windows=windows, candidates=ev["candidates"], excess=excess
    )
    totals = {}
    for part in (verbatim, style):
        for p, v in part.items():
            totals[p] = totals.get(p, 0.0) + v
    assert sum(totals.values()) <= 1.0 + 1e-9
    kept = rank(totals)
    assert len(kept) <= 10
    assert all(v >= 0.01 for _p, v in kept)
    shares, remainder = quantize([v for _p, v in kept])
    assert sum(shares, Decimal(0)) + remainder == ONE
    assert all(Decimal(0) <= s <= ONE for s in shares)
    assert remainder >= 0
    assert all(s.as_tuple().exponent >= -6 for s in shares)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, allow_nan=False), max_size=12))
def test_quantize_never_exceeds_one_even_for_inconsistent_input(values):
    shares, remainder = quantize(values)
    assert sum(shares, Decimal(0)) + remainder == ONE
    assert remainder >= 0
