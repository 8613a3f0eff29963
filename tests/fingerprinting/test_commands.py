import json
from io import StringIO

import pytest
import soundfile
from django.core.management import call_command

from fingerprinting.models import Clip, ClipStatus
from tests.fingerprinting.conftest import SR, recording_audio, unrelated_audio

pytestmark = pytest.mark.django_db


def run(*args) -> list[dict]:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_index_attribute_and_demo_commands(label, partner, catalog, tmp_path):
    [summary] = run("index_catalog", "--label", label.slug, "--no-progress")
    assert summary["changed"] and summary["recordings"]["indexed"] == len(catalog)
    [again] = run("index_catalog", "--label", label.slug, "--no-progress")
    assert again["changed"] is False

    folder = tmp_path / "clips"
    folder.mkdir()
    soundfile.write(folder / "a-excerpt.wav", recording_audio(1)[3 * SR : 13 * SR], SR)
    soundfile.write(folder / "b-unrelated.flac", unrelated_audio(7), SR, format="FLAC")
    soundfile.write(folder / "c-short.wav", recording_audio(1)[:SR], SR)
    lines = run("attribute_files", "--label", label.slug, str(folder))
    assert [line["file"].rsplit("/", 1)[-1] for line in lines] == [
        "a-excerpt.wav",
        "b-unrelated.flac",
        "c-short.wav",
    ]
    excerpt, unrelated, short = lines
    assert excerpt["recordings"][0]["isrc"] == catalog[1].isrc
    assert excerpt["recordings"][0]["lane"] in ("verbatim", "both")
    assert set(excerpt["timings"]) >= {"chromaprint", "landmark", "spectral", "style", "total"}
    assert excerpt["review"]["state"] == "auto_accepted"
    assert excerpt["recordings"][0]["false_alarm"] < 1e-4
    assert all(r["share"] < 0.05 for r in unrelated["recordings"])
    assert short["rejected"] == "too_short"
    assert not Clip.objects.exists()  # nothing stored without --save

    saved = run(
        "attribute_files",
        "--label",
        label.slug,
        "--save",
        "--partner",
        partner.slug,
        str(folder / "a-excerpt.wav"),
    )
    assert (
        saved[0]["status"] == ClipStatus.ATTRIBUTED and saved[0]["recordings"][0]["isrc"] == catalog[1].isrc
    )

    demo = run("demo_clips", "--label", label.slug, "--partner", "demo-partner")
    assert len(demo) == 13
    assert all(line["status"] == ClipStatus.ATTRIBUTED for line in demo)
    by_recipe = {line["recipe"]: line for line in demo}
    # The partner's false claim: an unrelated piece declared as reusing a recording waits for a person.
    assert by_recipe["declared-unsupported"]["review_state"] == "needs_review"
    assert by_recipe["excerpt-10s"]["shares"][0]["isrc"] == by_recipe["excerpt-10s"]["expected"][0]
    assert all(float(s["share"]) < 0.05 for s in by_recipe["unrelated"]["shares"])
    assert (
        len(run("demo_clips", "--label", label.slug, "--partner", "demo-partner")) == 13
    )  # re-run: same clips
    assert Clip.objects.filter(partner__slug="demo-partner").count() == 13
