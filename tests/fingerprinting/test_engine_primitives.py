"""The engine's shared primitives, rewritten for speed, give what the straightforward code gives:
`signal.sliding_maximum` is scipy's maximum_filter value for value (both boundary modes, float and
bool), and `votes.lookup` finds every posting of every query key, in query order, with its count."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import maximum_filter

from fingerprinting.engine.signal import sliding_maximum
from fingerprinting.engine.votes import lookup

shapes = st.tuples(st.integers(1, 40), st.integers(1, 40))
sizes = st.tuples(st.integers(1, 17), st.integers(1, 17))


@settings(max_examples=150, deadline=None)
@given(shape=shapes, size=sizes, seed=st.integers(0, 2**32 - 1))
def test_sliding_maximum_is_scipys_maximum_filter(shape, size, seed):
    rng = np.random.default_rng(seed)
    # Few distinct values, so windows hold ties and equal maxima, as a quantised spectrogram does.
    values = rng.integers(-3, 4, size=shape).astype(np.float32)
    assert np.array_equal(
        sliding_maximum(values, size, fill=-np.inf),
        maximum_filter(values, size=size, mode="constant", cval=-np.inf),
    )
    assert np.array_equal(sliding_maximum(values, size), maximum_filter(values, size=size, mode="nearest"))
    flags = values > 1
    assert np.array_equal(
        sliding_maximum(flags, size, fill=False),
        maximum_filter(flags, size=size, mode="constant", cval=False),
    )


def test_sliding_maximum_keeps_the_input_shape_and_type():
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = sliding_maximum(values, (3, 3), fill=-np.inf)
    assert out.shape == values.shape and out.dtype == np.float32
    assert out.flags["C_CONTIGUOUS"]
    assert out[0, 0] == 5.0 and out[2, 3] == 11.0


@settings(max_examples=100, deadline=None)
@given(
    keys=st.lists(st.integers(0, 30), max_size=60),
    query=st.lists(st.integers(0, 30), max_size=40),
    max_postings=st.integers(1, 6),
)
def test_lookup_finds_every_posting_in_query_order(keys, query, max_postings):
    sorted_keys = np.sort(np.asarray(keys, np.uint32))
    needles = np.asarray(query, np.uint32)
    query_index, posting, counts = lookup(sorted_keys, needles, max_postings)
    expected = []
    for q, key in enumerate(query):
        found = [p for p, k in enumerate(sorted_keys.tolist()) if k == key]
        if len(found) <= max_postings:
            expected += [(q, p) for p in found]
    assert list(zip(query_index.tolist(), posting.tolist(), strict=True)) == expected
    assert counts.tolist() == [int((sorted_keys == key).sum()) for key in query]
