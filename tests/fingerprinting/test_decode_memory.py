"""Decoding is bounded (issue 13): a small file holding hours of audio is refused without being decoded
whole, and a worker attributing it stays under 500 MB of resident memory.

The file is the one from the issue: 4 hours of Opus silence in WebM (about 5 MB), made here with ffmpeg,
once with an honest duration in its header and once streamed (its header declares about a minute).
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fingerprinting.audio import container_duration, decode
from fingerprinting.errors import AudioRejected

ROOT = Path(__file__).resolve().parents[2]
FOUR_HOURS = 4 * 3600
WORKER_RSS_LIMIT_MB = 500

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")


@pytest.fixture(scope="module")
def four_hour_webms(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("long")
    minute = folder / "minute.webm"
    ffmpeg = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    subprocess.run(
        [*ffmpeg, "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "60"]
        + ["-c:a", "libopus", "-b:a", "6k", "-frame_duration", "60", str(minute)],
        check=True,
    )
    honest, streamed = folder / "silence-4h.webm", folder / "silence-4h-streamed.webm"
    loops = str(FOUR_HOURS // 60 - 1)  # the minute, repeated without re-encoding: seconds to make
    subprocess.run([*ffmpeg, "-stream_loop", loops, "-i", str(minute), "-c", "copy", str(honest)], check=True)
    with streamed.open("wb") as out:  # written to a pipe: the muxer cannot go back to fix the duration
        subprocess.run(
            [*ffmpeg, "-stream_loop", loops, "-i", str(minute), "-c", "copy", "-f", "webm", "-"],
            check=True,
            stdout=out,
        )
    return {"honest": honest, "streamed": streamed}


def test_the_files_are_what_the_issue_describes(four_hour_webms):
    for path in four_hour_webms.values():
        assert path.stat().st_size < 10 * 1024 * 1024  # accepted by the API's 50 MiB limit
    assert container_duration(four_hour_webms["honest"]) == pytest.approx(FOUR_HOURS, abs=2)
    assert container_duration(four_hour_webms["streamed"]) < 600  # the header lies


@pytest.mark.parametrize("kind", ["honest", "streamed"])
def test_a_four_hour_file_is_refused_as_too_long(four_hour_webms, kind):
    with pytest.raises(AudioRejected) as rejected:
        decode(four_hour_webms[kind], max_seconds=600)
    assert rejected.value.code == "too_long"


WORKER = textwrap.dedent(
    """
    import json, resource, sys
    import django

    def peak_mb():
        # VmHWM: this process's own peak. ru_maxrss would also count the parent's pages at fork (Linux
        # carries the old high-water mark across exec), i.e. the size of the test runner.
        with open("/proc/self/status") as status:
            line = next(l for l in status if l.startswith("VmHWM:"))
        return int(line.split()[1]) // 1024

    def children_peak_mb():
        # An upper bound: each child's figure includes this process's pages at fork.
        return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024

    django.setup()
    from fingerprinting import engine, index  # noqa: F401  (what an attribution worker has loaded)
    from fingerprinting.errors import AudioRejected
    from fingerprinting.services import audio_attribute

    loaded = peak_mb()
    codes = []
    for path in sys.argv[1:]:
        try:
            audio_attribute(label=None, path=path)
        except AudioRejected as exc:
            codes.append(exc.code)
    report = {"codes": codes, "loaded_mb": loaded, "rss_mb": peak_mb()}
    print(json.dumps({**report, "children_rss_mb": children_peak_mb()}))
    """
)


def test_a_worker_attributing_the_four_hour_files_stays_under_500_mb(four_hour_webms, tmp_path):
    """The attribution worker's code path (`audio_attribute`, which decodes before anything else) in a
    process of its own, so its peak resident memory is its own: before the fix it reached 2.0 GB."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "STEMMA_VAR_DIR": str(tmp_path),
        "CLIP_MAX_SECONDS": "600",
    }
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", WORKER, str(four_hour_webms["honest"]), str(four_hour_webms["streamed"])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"attribution worker: {report}")
    assert report["codes"] == ["too_long", "too_long"]
    assert report["rss_mb"] < WORKER_RSS_LIMIT_MB, report
    assert report["children_rss_mb"] < WORKER_RSS_LIMIT_MB


@pytest.mark.django_db
def test_the_api_accepts_the_file_and_processing_rejects_it_too_long(
    four_hour_webms, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    from fingerprinting.models import Clip
    from partner_api.services import apikey_create
    from tests.factories import LabelFactory, PartnerFactory

    created = apikey_create(label=LabelFactory(), partner=PartnerFactory())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.raw_key}")
    data = four_hour_webms["streamed"].read_bytes()
    upload = SimpleUploadedFile("long.webm", data, content_type="audio/webm")
    with django_capture_on_commit_callbacks(execute=True):  # the queued task runs (eager Celery)
        response = client.post("/api/v1/clips", {"external_id": "long", "audio": upload}, format="multipart")
    assert response.status_code == 202, response.json()
    clip = Clip.objects.get(pk=response.json()["id"])
    assert (clip.status, clip.reject_code) == ("rejected", "too_long")
