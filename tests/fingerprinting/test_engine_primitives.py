"""The engine's shared primitives, rewritten for speed, give what the straightforward code gives:
`signal.sliding_maximum` is scipy's maximum_filter value for value (both boundary modes, float and
bool), `votes.lookup` finds every posting of every query key, in query order, with its count, and
`alignment.align_many` (FFT correlation, recordings bucketed by FFT length and correlated in chunks) finds
the best alignment a direct search over every offset, transposition and tempo finds, and the composition
lane's retrieval votes (`composition._recording_votes`) are the per-hit loop's."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import maximum_filter

from fingerprinting.engine import alignment, composition
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


def direct_best_alignment(clip, rec, tempo_factors):
    """(score, offset, transpose, tempo) by trying every offset and transposition: the definition
    align_many computes with FFTs."""
    best = None
    for step in tempo_factors:
        scaled = alignment.normalise_frames(alignment.rescale_time(clip, step)) if step != 1.0 else clip
        length = len(scaled)
        if length < 2:
            continue
        min_overlap = int(alignment.MIN_OVERLAP * length)
        for tau in range(-(length - min_overlap), max(1, len(rec) - min_overlap)):
            for k in range(12):
                rotated = np.roll(rec, -k, axis=1)
                total = sum(
                    float(scaled[t] @ rotated[t + tau]) for t in range(length) if 0 <= t + tau < len(rec)
                )
                if best is None or total / length > best[0] + 1e-6:
                    best = (total / length, tau, k, step)
    return best


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(3, 90), min_size=1, max_size=5),
    clip_frames=st.integers(3, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_align_many_finds_the_direct_searchs_best_alignment(lengths, clip_frames, seed):
    rng = np.random.default_rng(seed)
    recordings = [alignment.normalise_frames(rng.random((n, 12)) ** 3) for n in lengths]
    clip = alignment.normalise_frames(rng.random((clip_frames, 12)) ** 3)
    tempo_factors = (0.9, 1.0, 1.12)
    found = alignment.align_many(clip, recordings, frame_seconds=0.2, windows=[], tempo_factors=tempo_factors)
    for rec, got in zip(recordings, found, strict=True):
        score, tau, k, step = direct_best_alignment(clip, rec, tempo_factors)
        assert abs(got.score - score) < 1e-4
        # The same alignment, or another one scoring the same (random frames rarely tie).
        if (got.offset_frames, got.transpose, got.tempo_step) != (tau, k, step):
            assert abs(got.score - score) < 1e-6


def test_a_planted_excerpt_is_found_among_recordings_of_very_different_lengths():
    """Recordings of 40 to 2,600 frames fall in different FFT buckets; the excerpt's source is found at
    its offset and transposition whatever bucket it is in."""
    rng = np.random.default_rng(7)
    lengths = [40, 300, 700, 1100, 2600]
    recordings = [alignment.normalise_frames(rng.random((n, 12)) ** 4) for n in lengths]
    for source, offset in ((1, 120), (4, 2000)):
        clip = alignment.normalise_frames(np.roll(recordings[source][offset : offset + 100], 3, axis=1))
        found = alignment.align_many(clip, recordings, frame_seconds=0.2, windows=[(0.0, 10.0)])
        best = int(np.argmax([a.score for a in found]))
        assert best == source
        assert (found[best].offset_frames, found[best].tempo_step) == (offset, 1.0)
        assert found[best].clip_semitones == 3
        assert found[best].score > 0.99 and found[best].window_cos[0] > 0.99


def test_correlating_one_recording_at_a_time_gives_the_same_alignments(monkeypatch):
    """Buckets split into chunks (CHUNK_BYTES) align as the whole bucket does: here every chunk holds one
    recording, so each tempo factor's clip spectrum is reused across chunks."""
    rng = np.random.default_rng(11)
    recordings = [alignment.normalise_frames(rng.random((n, 12)) ** 3) for n in (200, 230, 260, 900, 950)]
    clip = alignment.normalise_frames(np.roll(recordings[3][400:480], 5, axis=1))
    whole = alignment.align_many(clip, recordings, frame_seconds=0.2, windows=[(0.0, 8.0)])
    monkeypatch.setattr(alignment, "CHUNK_BYTES", 1)
    chunked = alignment.align_many(clip, recordings, frame_seconds=0.2, windows=[(0.0, 8.0)])
    for a, b in zip(whole, chunked, strict=True):
        assert (a.offset_frames, a.transpose, a.tempo_step) == (b.offset_frames, b.transpose, b.tempo_step)
        assert abs(a.score - b.score) < 1e-6
    assert (chunked[3].offset_frames, chunked[3].clip_semitones) == (400, 5)


def loop_votes(hits, owners, exclude):
    """The composition lane's votes as first written: a loop over every hit."""
    best = {}
    for t, (sims, ids) in enumerate(hits):
        for row in range(len(ids)):
            for sim, i in zip(sims[row], ids[row], strict=True):
                rec = int(owners[max(int(i), 0)])
                if i < 0 or rec in exclude:
                    continue
                votes = best.setdefault(rec, np.zeros((len(hits), len(ids)), np.float32))
                votes[t, row] = max(votes[t, row], sim)
    return {rec: float(v.sum(axis=1).max()) for rec, v in best.items()}


@settings(max_examples=60, deadline=None)
@given(
    tempi=st.integers(1, 5),
    patches=st.integers(1, 6),
    k=st.integers(1, 9),
    recordings=st.integers(1, 6),
    excluded=st.sets(st.integers(0, 5), max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_retrieval_votes_are_the_per_hit_loops(tempi, patches, k, recordings, excluded, seed):
    """Hits of the same recording in one clip patch (its best counts), negative similarities (count 0),
    FAISS's -1 for a missing neighbour and excluded recordings."""
    rng = np.random.default_rng(seed)
    owners = rng.integers(0, recordings, size=12).astype(np.int32)
    hits = [
        (
            rng.uniform(-0.5, 1.0, size=(patches, k)).astype(np.float32),
            np.where(rng.random((patches, k)) < 0.1, -1, rng.integers(0, 12, size=(patches, k))),
        )
        for _ in range(tempi)
    ]
    exclude = frozenset(excluded)
    assert composition._recording_votes(hits, owners, exclude) == loop_votes(hits, owners, exclude)


@settings(max_examples=20, deadline=None)
@given(
    length=st.integers(20, 200),
    window_frames=st.integers(3, 24),
    windows=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_best_window_scores_are_each_windows_own_best_alignment(length, window_frames, windows, seed):
    """Every window scored at once against one recording equals the window aligned alone at tempo 1."""
    rng = np.random.default_rng(seed)
    recording = alignment.normalise_frames(rng.random((length, 12)) ** 3)
    stack = np.stack(
        [alignment.normalise_frames(rng.random((window_frames, 12)) ** 3) for _ in range(windows)]
    )
    got, _typical, _spread = alignment.best_window_scores(stack, recording)
    for window, score in zip(stack, got, strict=True):
        assert abs(score - direct_best_alignment(window, recording, (1.0,))[0]) < 1e-4
