"""Smoke tests of the real-corpus benchmark's pure parts (bench/real_corpus.py, bench/real_quality.py):
the clip plans and their ground truth, the catalog CSV the importer must accept, and the scoring of
near-duplicates and false attributions. No audio, no packages: the corpus itself is never built here."""

import csv
import io
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))  # after the project: no shadowing

import real_corpus  # noqa: E402
import real_engine  # noqa: E402
import real_quality  # noqa: E402

from catalog.importer import COLUMNS, catalog_import  # noqa: E402
from tests.factories import LabelFactory  # noqa: E402


def track(package: str, name: str, serial: int, seconds: float = 120.0) -> dict:
    envelope = [-20.0] * int(seconds)
    envelope[:10] = [-80.0] * 10  # a silent intro no clip should start in
    return {"package": package, "file": f"tracks/{package}/{name}", "name": name, "title": name,
            "composer": "Someone", "seconds": seconds, "envelope_db": envelope,
            "isrc": real_corpus.isrc_for(package, serial), "audio_file": f"{serial}.ogg"}  # fmt: skip


CATALOG = [track("warzone2100-music", f"t{i}.opus", i) for i in (1, 2, 3)]
UNRELATED = [track("megaglest-data", "u.ogg", 1)]
GROUP = {CATALOG[0]["isrc"]: 0, CATALOG[1]["isrc"]: 0}  # t1 and t2: near-duplicates


@pytest.mark.parametrize("kind", real_corpus.KINDS)
def test_plan_truth_and_determinism(kind):
    plans = [
        real_corpus.plan_clip(kind, 0, CATALOG, UNRELATED, GROUP, np.random.default_rng([7, 1]))
        for _ in range(2)
    ]
    plan = plans[0]
    assert plans[0] == plans[1]
    if kind in real_corpus.NEGATIVE_KINDS:
        assert plan["truth"] == {}
        assert all("unrelated" in layer for layer in plan["layers"])
    else:
        assert sum(plan["truth"].values()) == pytest.approx(1.0)
    for layer in plan["layers"]:
        assert layer["source_start"] >= 9.0  # not in the silent intro
        factor = (plan["edit"] or {}).get("source_factor", 1.0)
        assert layer["source_seconds"] == pytest.approx(layer["clip_seconds"] * factor, abs=1e-3)
    if kind in (*real_corpus.MIX_LEVELS, "sequence"):
        # two sources that are not the same audio: one of them is t3, the only track outside the group
        assert CATALOG[2]["isrc"] in plan["truth"] and len(plan["truth"]) == 2
    if kind in real_corpus.MIX_LEVELS:
        assert [layer["level_db"] for layer in plan["layers"]] == [0.0, real_corpus.MIX_LEVELS[kind]]
        assert plan["truth"] == {layer["isrc"]: 0.5 for layer in plan["layers"]}
    if kind == "under_music":
        assert [layer["level_db"] for layer in plan["layers"]] == [0.0, -6.0]
        assert "unrelated" in plan["layers"][0]


@pytest.mark.django_db
def test_catalog_rows_import_through_the_importer():
    rng = np.random.default_rng(0)
    rows = [row for t in CATALOG for row in real_corpus.catalog_rows(t, rng)]
    for t in CATALOG:
        for right in ("master", "publishing"):
            shares = [
                Decimal(r["share"]) for r in rows if r["isrc"] == t["isrc"] and r["right_type"] == right
            ]
            assert sum(shares) == 1
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows({**r, "audio_file": ""} for r in rows)
    report = catalog_import(label=LabelFactory(slug="bench"), csv_text=buffer.getvalue())
    assert report.ok and report.recordings_created == 3, report.errors


def outcome(*shares, remainder=0.0, state="needs_review"):
    return real_engine.Outcome(
        shares=[{"isrc": i, "share": s, "lane": "verbatim", "evidence": {}} for i, s in shares],
        remainder=remainder,
        review_state=state,
    )


def test_near_duplicate_counts_as_the_true_source():
    a, b, c = (t["isrc"] for t in CATALOG)
    group_of = {a: a, b: a}
    m = real_quality.clip_metrics({a: 1.0}, outcome((b, 0.6), (a, 0.4)), group_of)
    assert m["rec@1"] and m["mae"] == pytest.approx(0.0) and not m["false"]
    m = real_quality.clip_metrics({a: 1.0}, outcome((c, 0.5), (a, 0.5)), group_of)
    assert not m["rec@1"] and m["rec@5"] and m["false"]


def test_negative_with_an_auto_accepted_share_is_a_false_payout():
    a = CATALOG[0]["isrc"]
    m = real_quality.clip_metrics({}, outcome((a, 0.3), remainder=0.7, state="auto_accepted"), {})
    assert m["false"] and m["false_auto"] and m["mae"] == pytest.approx(0.3)
    m = real_quality.clip_metrics({}, outcome((a, 0.04), remainder=0.96), {})
    assert not m["false"]


def test_a_recording_sharing_the_clips_passage_is_not_false():
    a, b, c = (t["isrc"] for t in CATALOG)
    also = [{"isrc": c, "via": a, "seconds": 8.0, "ber": 0.12}]
    m = real_quality.clip_metrics({a: 1.0}, outcome((c, 0.5), (a, 0.5)), {}, also)
    assert m["rec@1"] and not m["false"] and m["mae"] == pytest.approx(0.0)
    assert real_quality.clip_metrics({a: 1.0}, outcome((c, 0.5), (a, 0.5)), {})["false"]


def test_shared_passage_finds_the_same_audio_and_only_it():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**32, 600, dtype=np.uint32)
    b = rng.integers(0, 2**32, 500, dtype=np.uint32)
    noise = (rng.random((100, 32)) < 0.08) @ (1 << np.arange(32, dtype=np.uint64))  # ~8 % bit errors
    b[200:300] = a[350:450] ^ noise.astype(np.uint32)  # 100 items (~12 s) of a, re-encoded, inside b
    # The ends are found to within a window edge (~1 s): a window half over the passage is still close.
    loud = [-20.0] * 80
    found = real_corpus.shared_passage((a.tolist(), loud, b.tolist(), loud))
    item = real_corpus.CHROMAPRINT_ITEM_SECONDS
    assert found["a_start"] == pytest.approx(350 * item, abs=1.0) and found["a_end"] == pytest.approx(
        450 * item, abs=1.0
    )
    assert found["b_start"] == pytest.approx(200 * item, abs=1.0)
    assert real_corpus.shared_passage((a.tolist(), loud, rng.integers(0, 2**32, 500).tolist(), loud)) is None
    silent_there = loud.copy()
    silent_there[20:40] = [-90.0] * 20  # b's seconds 20-40 (the shared items 200-300 are at 24.8-37.1 s)
    assert real_corpus.shared_passage((a.tolist(), loud, b.tolist(), silent_there)) is None
