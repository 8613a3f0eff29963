"""Faults around attribution, with real processes: a private Redis, gunicorn, Celery workers.

- A worker SIGKILLed while attributing: the clip is attributed exactly once after the sweep.
- Redis stopped while clips are submitted, then restarted: every accepted clip ends attributed.
"""

import io
import subprocess
import sys
from datetime import timedelta

import numpy as np
import pytest
import requests
import soundfile
from django.conf import settings
from django.utils import timezone

from catalog.services import recording_attach_audio
from demo.synth import synthesize, write_wav
from fingerprinting.models import Attribution, Clip, ClipStatus
from fingerprinting.services import catalog_index_update
from partner_api.services import apikey_create
from tests.factories import LabelFactory, PartnerFactory, RecordingFactory
from tests.ops.harness import (
    BIN,
    ROOT,
    Process,
    RedisServer,
    app_env,
    celery_worker,
    database_url,
    gunicorn,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SR = 22050

# A worker whose engine stalls once it has claimed a clip, so the test can kill it mid-attribution.
STALLING_WORKER = """
import pathlib, sys, time
import django
django.setup()
import fingerprinting.services as services
real = services.audio_attribute
def stalled(*args, **kwargs):
    pathlib.Path(sys.argv[1]).write_text("claimed")
    time.sleep(600)
    return real(*args, **kwargs)
services.audio_attribute = stalled
from config.celery import app
app.worker_main(["worker", "-Q", "attribution,io", "--pool", "solo", "-n", "stalling@%h",
                 "--without-gossip", "--without-mingle", "--loglevel", "INFO"])
"""


def piece(seed: int) -> np.ndarray:
    return np.concatenate([synthesize(seed * 10 + k, 8.0) for k in range(3)])


def wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, SR, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture
def world(tmp_path):
    """A label with four indexed recordings, an API key, and a private Redis."""
    label, partner = LabelFactory(slug="ops-label"), PartnerFactory(slug="ops-partner")
    recordings = []
    for n in range(4):
        recording = RecordingFactory(label=label, title=f"Ops piece {n}")
        path = tmp_path / f"rec-{n}.wav"
        write_wav(path, piece(700 + n), SR)
        recording_attach_audio(recording=recording, path=path)
        recordings.append(recording)
    catalog_index_update(label=label)
    key = apikey_create(label=label, partner=partner, name="ops").raw_key
    redis = RedisServer(tmp_path)
    redis.start()
    env = app_env(
        DATABASE_URL=database_url(),
        REDIS_URL=redis.url,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        CLIP_PROCESSING_TIMEOUT_SECONDS="30",
    )
    yield {"label": label, "partner": partner, "key": key, "redis": redis, "env": env, "tmp": tmp_path}
    redis.stop()


def submit(base: str, key: str, external_id: str, audio: bytes) -> requests.Response:
    return requests.post(
        f"{base}/api/v1/clips",
        headers={"Authorization": f"Bearer {key}"},
        data={"external_id": external_id, "title": external_id},
        files={"audio": (f"{external_id}.wav", audio, "audio/wav")},
        timeout=30,
    )


def run_sweep(env: dict) -> None:
    """Send the periodic sweep now, as celery beat does every minute."""
    subprocess.run(
        [str(BIN / "celery"), "-A", "config", "call", "fingerprinting.tasks.clip_sweep_task"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def age(clips, seconds: int = 120) -> None:
    """Make the clips look stuck for longer than the timeout, instead of waiting for it."""
    past = timezone.now() - timedelta(seconds=seconds)
    Clip.objects.filter(pk__in=[c.pk for c in clips]).update(updated_at=past, processing_started_at=past)


def test_worker_killed_while_attributing_then_swept(world):
    env, tmp = world["env"], world["tmp"]
    web, base = gunicorn(env, tmp / "web.log", workers=1)
    flag = tmp / "claimed"
    stalling = Process([sys.executable, "-c", STALLING_WORKER, str(flag)], env, tmp / "stalling.log").start()
    worker = None
    try:
        response = submit(base, world["key"], "killed-1", wav(piece(701)[2 * SR : 14 * SR]))
        assert response.status_code == 202, response.text
        clip = Clip.objects.get(external_id="killed-1")
        wait_until(flag.exists, timeout=60, what="the worker to claim the clip")
        stalling.kill()  # SIGKILL the whole worker process group mid-attribution
        clip.refresh_from_db()
        print(f"worker SIGKILLed with clip {clip.pk} {clip.status}")
        assert clip.status == ClipStatus.PROCESSING and not Attribution.objects.filter(clip=clip).exists()

        worker = celery_worker(env, tmp / "worker.log", name="recovery")
        age([clip])
        run_sweep(env)
        wait_until(lambda: Clip.objects.get(pk=clip.pk).status == ClipStatus.ATTRIBUTED, timeout=120,
                   what="the swept clip to be attributed")  # fmt: skip
        run_sweep(env)  # a second sweep finds nothing stuck
        clip.refresh_from_db()
        versions = Attribution.objects.filter(clip=clip).count()
        print(
            f"recovered: clip {clip.pk} attributed, {versions} attribution version(s), attempts {clip.attempts}"
        )
        assert versions == 1
        assert clip.current_attribution.shares.first().recording.title == "Ops piece 1"
    finally:
        stalling.kill()
        if worker:
            worker.stop()
        web.stop()


def test_redis_stopped_while_clips_are_submitted(world):
    env, tmp, redis = world["env"], world["tmp"], world["redis"]
    web, base = gunicorn(env, tmp / "web.log", workers=2)
    worker = celery_worker(env, tmp / "worker.log", name="redis-fault")
    try:
        accepted = []
        for i in range(3):
            response = submit(base, world["key"], f"before-{i}", wav(piece(700 + i)[SR : 9 * SR]))
            assert response.status_code == 202, response.text
            accepted.append(response.json()["id"])
        redis.stop()
        for i in range(3):
            response = submit(base, world["key"], f"during-{i}", wav(piece(701 + i)[3 * SR : 11 * SR]))
            assert response.status_code == 202, f"Redis down must not fail the submission: {response.text}"
            accepted.append(response.json()["id"])
        print("redis stopped: 3 clips accepted with 202 while it was down")
        redis.start()
        worker.stop()  # the worker lost its broker; a fresh one, as systemd/compose would restart it
        worker = celery_worker(env, tmp / "worker2.log", name="redis-fault-2")
        clips = Clip.objects.filter(pk__in=accepted)
        age(clips.filter(status=ClipStatus.QUEUED))
        run_sweep(env)
        wait_until(lambda: not clips.exclude(status=ClipStatus.ATTRIBUTED).exists(), timeout=180,
                   what="every accepted clip to be attributed")  # fmt: skip
        counts = [Attribution.objects.filter(clip_id=pk).count() for pk in accepted]
        print(f"redis restarted: {len(accepted)} accepted, {clips.filter(status='attributed').count()} attributed, "
              f"attribution versions per clip {counts}")  # fmt: skip
        assert counts == [1] * len(accepted)
    finally:
        worker.stop()
        web.stop()
