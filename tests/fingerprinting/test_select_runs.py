"""engine.runs.select_runs: which runs of one recording survive when several cover the same clip
time (most significant first: the lowest false-alarm chance)."""

from fingerprinting.engine.runs import Run
from fingerprinting.engine.runs import coverage as _coverage
from fingerprinting.engine.runs import select_runs as _select_runs


def select_runs(runs):
    return _select_runs(runs, min_new_seconds=3.0)


def coverage(runs, duration):
    return _coverage(runs, duration)


def run(
    recording: int, start: float, end: float, method: str = "chromaprint", false_alarm: float = 1e-6
) -> Run:
    return Run(
        lane=method,
        recording=recording,
        clip_start=start,
        clip_end=end,
        rec_start=start + 30.0,
        rec_end=end + 30.0,
        score=10.0,
        strength=0.8,
        false_alarm=false_alarm,
    )


def test_a_repeat_of_the_same_clip_time_at_another_offset_is_dropped():
    best = run(1, 0.0, 10.0, false_alarm=1e-9)
    repeat = run(1, 0.5, 9.5, false_alarm=1e-5)
    assert select_runs([repeat, best]) == [best]


def test_a_longer_spectral_run_around_a_shorter_chromaprint_run_is_kept():
    chromaprint = run(1, 0.0, 10.4, false_alarm=1e-9)
    spectral = run(1, 0.0, 20.0, method="spectral", false_alarm=1e-6)
    chosen = select_runs([spectral, chromaprint])
    assert chromaprint in chosen and spectral in chosen
    assert coverage(chosen, 20.0) == 1.0


def test_a_run_adding_little_new_time_is_dropped_but_other_recordings_are_untouched():
    first = run(1, 0.0, 10.0, false_alarm=1e-9)
    little_more = run(1, 7.0, 11.5, method="landmark")  # 1.5 s new of 4.5 s
    other = run(2, 0.0, 10.0, method="landmark")
    assert select_runs([first, little_more, other]) == [first, other]
