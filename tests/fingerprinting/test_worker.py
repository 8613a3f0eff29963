"""End to end on PostgreSQL and Redis: a real Celery worker process attributes a submitted clip."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection

from fingerprinting.models import ClipStatus
from fingerprinting.services import catalog_index_update, clip_submit
from tests.conftest import storage_env
from tests.fingerprinting.audio_helpers import wav_bytes
from tests.fingerprinting.conftest import SR, recording_audio

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] or ""
    if db["PASSWORD"]:
        auth += f":{db['PASSWORD']}"
    host = f"{auth}@" if auth else ""
    return f"postgres://{host}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_attributes_a_clip(label, partner, catalog, tmp_path):
    catalog_index_update(label=label)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DEBUG": "1",
        "PYTHONPATH": str(ROOT),
        **storage_env(),
    }
    celery = Path(sys.executable).parent / "celery"
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            str(celery),
            "-A",
            "config",
            "worker",
            "-Q",
            "attribution,io",
            "--pool=solo",
            "--loglevel=INFO",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        clip = clip_submit(
            label=label,
            partner=partner,
            audio=ContentFile(wav_bytes(recording_audio(2)[4 * SR : 14 * SR], SR), name="e2e.wav"),
            external_id="e2e-1",
        )  # autocommit: the task is sent when this returns
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            clip.refresh_from_db()
            if clip.status in (ClipStatus.ATTRIBUTED, ClipStatus.REJECTED):
                break
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.5)
        assert clip.status == ClipStatus.ATTRIBUTED, (tmp_path / "worker.log").read_text()[-3000:]
        top = clip.current_attribution.shares.order_by("rank").first()
        assert top.recording_id == catalog[2].pk
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
