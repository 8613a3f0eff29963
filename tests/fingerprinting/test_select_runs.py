"""verbatim.select_runs: which runs of one recording survive when several cover the same clip time."""

from fingerprinting.verbatim import Run, coverage, select_runs


def run(recording: int, start: float, end: float, method: str = "chromaprint", ber: float = 0.1) -> Run:
    return Run(
        recording=recording,
        clip_start=start,
        clip_end=end,
        rec_start=start + 30.0,
        rec_end=end + 30.0,
        ber=ber if method == "chromaprint" else -1.0,
        factor=1.0,
        items=int((end - start) * 8),
        method=method,
    )


def test_a_repeat_of_the_same_clip_time_at_another_offset_is_dropped():
    best = run(1, 0.0, 10.0, ber=0.05)
    repeat = run(1, 0.5, 9.5, ber=0.15)
    assert select_runs([repeat, best]) == [best]


def test_a_longer_spectral_run_around_a_shorter_chromaprint_run_is_kept():
    chromaprint = run(1, 0.0, 10.4)
    spectral = run(1, 0.0, 20.0, method="spectral")
    chosen = select_runs([spectral, chromaprint])
    assert chromaprint in chosen and spectral in chosen
    assert coverage(chosen, 20.0) == 1.0


def test_a_run_adding_little_new_time_is_dropped_but_other_recordings_are_untouched():
    first = run(1, 0.0, 10.0)
    little_more = run(1, 7.0, 11.5, method="landmark")  # 1.5 s new of 4.5 s
    other = run(2, 0.0, 10.0, method="landmark")
    assert select_runs([first, little_more, other]) == [first, other]
