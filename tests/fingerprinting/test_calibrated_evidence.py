"""Calibrated evidence (engine 2.0): low-information music finds no verbatim run, near-duplicate
masters are grouped, and every stored run's false-alarm chance decides what is accepted.

The catalog here is made in the test from the material that fooled fixed thresholds on real music:
drones, slow pads of sustained chords, and short loops repeated for the whole piece, all in one key and
at one tempo, so unrelated pieces agree on most of their spectrum and their Chromaprint bits."""

import dataclasses
from decimal import Decimal

import numpy as np
import pytest
from django.urls import reverse

from catalog.services import recording_attach_audio
from demo.synth import write_wav
from fingerprinting import engine, services
from fingerprinting import index as catalog_index
from fingerprinting.engine import chromaprint
from fingerprinting.engine.calibration import Calibration
from fingerprinting.engine.signal import ANALYSIS_SR, resample
from fingerprinting.models import IndexVersion, ReviewState
from fingerprinting.services import catalog_index_update, clip_attribute
from tests.factories import RecordingFactory, member
from tests.fingerprinting.conftest import SR, recording_audio
from tests.fingerprinting.test_clip_attribute import make_clip

pytestmark = pytest.mark.django_db

A_MINOR = (57, 60, 64, 69)  # A3 C4 E4 A4
C_MAJOR = (48, 55, 60, 64)


def hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _partials(freq: float, t: np.ndarray, rng, brightness: float) -> np.ndarray:
    out = np.zeros_like(t)
    for k in range(1, 7):
        vibrato = 1.0 + 0.002 * np.sin(2 * np.pi * rng.uniform(3.0, 6.0) * t + rng.uniform(0, 6.3))
        out += brightness**k * np.sin(2 * np.pi * freq * k * t * vibrato + rng.uniform(0, 6.3))
    return out


def drone(seed: int, notes, seconds: float) -> np.ndarray:
    """Sustained tones that never change: the same bits and peaks for the whole piece."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = sum(_partials(hz(n), t, rng, rng.uniform(0.4, 0.7)) for n in notes)
    return (0.2 * x / np.max(np.abs(x))).astype(np.float32)


def pad(seed: int, chords, seconds: float, chord_seconds: float = 6.0) -> np.ndarray:
    """Slow chords with long crossfades over a bed of filtered noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    out = np.zeros(n)
    for i, start in enumerate(np.arange(0.0, seconds, chord_seconds)):
        notes = chords[i % len(chords)]
        envelope = np.clip(1.0 - np.abs(t - start - chord_seconds / 2) / chord_seconds, 0.0, 1.0)
        out += envelope * sum(_partials(hz(m), t, rng, 0.5) for m in notes)
    noise = np.convolve(rng.standard_normal(n), np.ones(64) / 64, mode="same")
    out = out / np.max(np.abs(out)) + 0.05 * noise
    return (0.2 * out / np.max(np.abs(out))).astype(np.float32)


def loop(seed: int, notes, seconds: float, bpm: float = 120.0) -> np.ndarray:
    """One bar repeated unchanged for the whole piece: a four-on-the-floor kick and a line of plucked
    notes on sixteenths. Each seed is its own piece: its own instrument (the strength of each
    harmonic, the decay), kick, rhythm (which sixteenths sound) and line (notes of the key, in its own
    octaves). Unrelated pieces share a key, a tempo and a groove, never the same sounds or line."""
    rng = np.random.default_rng(seed)
    harmonics = rng.dirichlet(np.ones(8)) * rng.choice([1.0, 0.0], size=8, p=[0.7, 0.3])
    decay = rng.uniform(3.0, 12.0)
    sixteenth = 60.0 / bpm / 4
    bar = np.zeros(int(16 * sixteenth * SR))
    t = np.arange(int(2 * sixteenth * SR)) / SR
    for k in np.nonzero(rng.random(16) < 0.5)[0]:
        pitch = hz(int(rng.choice(notes)) + 12 * int(rng.integers(-1, 2)))
        tone = sum(a * np.sin(2 * np.pi * pitch * (h + 1) * t) for h, a in enumerate(harmonics))
        tone = tone * np.exp(-decay * t)
        a = int(k * sixteenth * SR)
        bar[a : a + len(tone)] += tone[: len(bar) - a]
    kick_t = np.arange(int(0.15 * SR)) / SR
    kick = np.sin(2 * np.pi * rng.uniform(45.0, 75.0) * kick_t) * np.exp(-rng.uniform(15.0, 35.0) * kick_t)
    for k in range(4):
        a = int(k * 4 * sixteenth * SR)
        bar[a : a + len(kick)] += 0.8 * kick
    out = np.tile(bar, int(np.ceil(seconds * SR / len(bar))))[: int(seconds * SR)]
    return (0.2 * out / np.max(np.abs(out))).astype(np.float32)


def catalog_of(label, tmp_path, pieces: dict[str, np.ndarray]):
    recordings = []
    for title, samples in pieces.items():
        recording = RecordingFactory(label=label, title=title, duration_seconds=len(samples) / SR)
        path = tmp_path / f"{title}.wav"
        write_wav(path, samples, SR)
        recording_attach_audio(recording=recording, path=path)
        recordings.append(recording)
    catalog_index_update(label=label)
    return recordings


def low_information_catalog() -> dict[str, np.ndarray]:
    return {
        "drone a": drone(1, A_MINOR, 40.0),
        "drone c": drone(2, C_MAJOR, 40.0),
        "pad a": pad(3, [A_MINOR, (53, 57, 60, 65), (55, 59, 62, 67)], 40.0),
        "pad c": pad(4, [C_MAJOR, (53, 57, 60, 65)], 40.0),
        "loop a": loop(5, A_MINOR, 40.0),
        "loop c": loop(6, C_MAJOR, 40.0),
        "silence then drone": np.concatenate([np.zeros(10 * SR, np.float32), drone(7, A_MINOR, 30.0)]),
        "pad a slow": pad(8, [A_MINOR, (52, 57, 60, 64)], 40.0, chord_seconds=10.0),
    }


def test_sustained_passages_drones_and_loops_of_unrelated_music_give_no_verbatim_run(
    label, partner, tmp_path
):
    catalog_of(label, tmp_path, low_information_catalog())
    index = catalog_index.open_current(label.pk)
    unrelated = {
        "another drone in A": drone(11, A_MINOR, 20.0),
        "another pad in A": pad(12, [A_MINOR, (53, 57, 60, 65)], 20.0),
        "another loop in A": loop(13, A_MINOR, 20.0),
        "another loop in C": loop(14, C_MAJOR, 20.0),
        "a drone, then silence": np.concatenate([drone(15, C_MAJOR, 12.0), np.zeros(8 * SR, np.float32)]),
    }
    for name, samples in unrelated.items():
        result = engine.attribute(index, resample(samples, SR, ANALYSIS_SR))
        report = result.evidence["verbatim"]["lanes"]
        assert all(lane["kept"] == 0 for name_, lane in report.items() if name_ != "style"), (name, report)
        assert all(s.lane == "style" for s in result.shares), name
        assert all(s.share < 0.05 for s in result.shares), name
        assert result.review.state == ReviewState.AUTO_ACCEPTED or not result.shares

    # Why a flat threshold failed: the drone and silence agree with the catalog's drone and silence on
    # nearly every Chromaprint bit (a bit error rate far under the old fixed 0.20), because those bits
    # never change; measured against what the passages' own bit statistics predict, that is chance.
    tail = resample(unrelated["a drone, then silence"], SR, ANALYSIS_SR)
    raw = chromaprint.find_runs(
        index.chromaprint, chromaprint.fingerprint(tail), engine.DEFAULT_CONFIG.chromaprint
    )
    low_ber = [run for run in raw if run.detail["ber"] <= 0.2]
    assert low_ber and all(run.score < 1.0 for run in low_ber)

    # The same material is found when it is the catalog's own audio (the lanes still work on it).
    result = engine.attribute(index, resample(loop(5, A_MINOR, 40.0)[5 * SR : 25 * SR], SR, ANALYSIS_SR))
    assert index.recordings[result.shares[0].position]["title"] == "loop a"
    assert result.shares[0].lane in ("verbatim", "both")


def test_a_near_duplicate_pair_is_grouped_and_attributed_to_one_member(label, partner, tmp_path, client):
    original = recording_audio(2)
    remaster = np.concatenate([np.zeros(int(1.3 * SR), np.float32), 0.7 * original])  # other gain, lead-in
    pieces = {f"piece {n}": recording_audio(n) for n in (0, 1, 3, 4, 5)}
    pieces |= {"original": original, "remaster": remaster}
    recordings = {r.title: r for r in catalog_of(label, tmp_path, pieces)}

    version = IndexVersion.objects.get(label=label, is_current=True)
    groups = [set(group["recording_ids"]) for group in version.near_duplicates]
    assert groups == [{recordings["original"].pk, recordings["remaster"].pk}]

    clip = make_clip(label, partner, original[6 * SR : 18 * SR], "from-the-remaster-or-the-original")
    attribution = clip_attribute(clip=clip)
    shares = list(attribution.shares.order_by("rank"))
    assert shares[0].recording_id == min(recordings["original"].pk, recordings["remaster"].pk)
    assert shares[0].share >= Decimal("0.9")
    other = max(recordings["original"].pk, recordings["remaster"].pk)
    assert other not in {s.recording_id for s in shares}  # not split at random between the two
    assert shares[0].evidence["near_duplicates"] == [
        r.isrc for r in (recordings["original"], recordings["remaster"]) if r.pk == other
    ]

    # The recording page says so, on both members.
    client.force_login(member("nadia", label))
    page = client.get(reverse("catalog:recording-detail", args=[recordings["remaster"].pk])).content.decode()
    assert "Same audio in the catalog" in page and recordings["original"].isrc in page
    page = client.get(reverse("catalog:recording-detail", args=[recordings["piece 0"].pk])).content.decode()
    assert "No other recording in the catalog holds the same audio" in page


def test_the_false_alarm_chance_is_stored_on_every_run_and_decides_acceptance(
    label, partner, catalog, indexed, monkeypatch, client
):
    index = catalog_index.open_current(label.pk)
    calibration = Calibration.of(index.meta, engine.DEFAULT_CONFIG)
    assert set(index.calibration["lanes"]) == {
        "chromaprint",
        "landmark",
        "spectral",
        "spectral_grid",
        "style",
    }
    assert index.calibration["queries"] > 0

    excerpt = recording_audio(4)[5 * SR : 17 * SR]
    accepted = clip_attribute(clip=make_clip(label, partner, excerpt, "clean-excerpt"))
    top = accepted.shares.order_by("rank").first()
    runs = top.evidence["verbatim"]["runs"]
    assert runs and all(run["false_alarm"] is not None for run in runs)
    for run in runs:  # what is stored is the calibration's figure for the run's score and the clip's length
        expected = calibration.false_alarm(run["method"], run["score"], accepted.evidence["duration_seconds"])
        assert run["false_alarm"] == pytest.approx(expected, rel=1e-2)
    assert top.evidence["verbatim"]["false_alarm"] == min(run["false_alarm"] for run in runs)
    assert accepted.review_state == ReviewState.AUTO_ACCEPTED and accepted.review_reasons == []

    # The same clip under a stricter acceptance bound than its evidence meets: review, with the reason.
    strict = dataclasses.replace(
        services.ENGINE_CONFIG,
        acceptance=dataclasses.replace(services.ENGINE_CONFIG.acceptance, max_false_alarm=1e-300),
    )
    monkeypatch.setattr(services, "ENGINE_CONFIG", strict)
    reviewed = clip_attribute(clip=make_clip(label, partner, excerpt, "same-excerpt-strict-bound"))
    assert reviewed.review_state == ReviewState.NEEDS_REVIEW
    reasons = [r for r in reviewed.review_reasons if r["code"] == "weak_evidence"]
    assert reasons and reasons[0]["isrc"] == catalog[4].isrc and "false-alarm chance" in reasons[0]["message"]

    # The clip page shows the reason to the reviewer.
    client.force_login(member("rosa", label))
    page = client.get(reverse("fingerprinting:clip-detail", args=[reviewed.clip_id])).content.decode()
    assert "Why it waits for a person" in page and "false-alarm chance" in page


def test_a_lane_that_rarely_fires_has_a_small_chance_of_any_run_at_all():
    """The chance of any run on an unrelated clip is the fraction of leave-one-out queries that
    produced one (plus one, so never zero), grown with the clip's length as every chance is; a lane
    never calibrated (no queries) is assumed to fire on every clip."""
    from fingerprinting.engine.calibration import LaneNull

    null = LaneNull(
        "landmark", queries=99, query_seconds=10.0, catalog_size=50, maxima=(20.0, 25.0, 30.0, 40.0),
        tail_start=25.0, tail_exceed=0.03, tail_scale=4.0, method="test",
    )  # fmt: skip
    calibration = Calibration({"landmark": null}, catalog_size=50)
    per_query = 5 / 100  # 4 queries with a run, +1
    assert calibration.any_run_chance("landmark", 10.0) == pytest.approx(per_query)
    assert calibration.any_run_chance("landmark", 20.0) == pytest.approx(1 - (1 - per_query) ** 2)
    assert calibration.any_run_chance("landmark", 20.0) >= calibration.false_alarm("landmark", 20.0, 20.0)
    assert calibration.any_run_chance("spectral", 20.0) == 1.0
