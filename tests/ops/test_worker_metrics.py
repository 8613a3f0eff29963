"""A Celery worker answers its own /metrics (WORKER_METRICS_PORT): what its pool processes counted, added
up across them (prometheus_client multiprocess mode), an earlier run's files emptied at start.

A real prefork worker rejects a silent clip; the rejection is counted in the pool process that ran the
task, by the fingerprinting.events subscription (as the attribution latency is on `clip.attributed`),
and the worker's main process serves the count.
"""

import subprocess

import pytest
import requests
from django.conf import settings
from django.core.files.base import ContentFile
from prometheus_client.parser import text_string_to_metric_families

from fingerprinting.models import Clip, ClipStatus
from tests.factories import LabelFactory, PartnerFactory
from tests.ops.harness import BIN, ROOT, Process, RedisServer, app_env, database_url, free_port, wait_until
from tests.partner_api.conftest import silence_wav
from tests.test_metrics import promtool_check

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_serves_what_its_pool_processes_counted(tmp_path):
    clip = Clip(
        label=LabelFactory(), partner=PartnerFactory(), external_id="silent-1", status=ClipStatus.QUEUED
    )
    clip.audio.save("silent.wav", ContentFile(silence_wav()), save=False)
    clip.audio_sha256, clip.audio_format = "0" * 64, "wav"
    clip.save()
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"an earlier run's counts")
    redis = RedisServer(tmp_path)
    redis.start()
    port = free_port()
    env = app_env(
        DATABASE_URL=database_url(),
        REDIS_URL=redis.url,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        PROMETHEUS_MULTIPROC_DIR=str(folder),
        WORKER_METRICS_PORT=str(port),
    )
    worker = Process(
        [str(BIN / "celery"), "-A", "config", "worker", "-Q", "attribution", "--pool", "prefork",
         "--concurrency", "2", "-n", "metrics@%h", "--without-gossip", "--without-mingle"],
        env, tmp_path / "worker.log",
    ).start()  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_until(lambda: requests.get(url, timeout=2).ok, timeout=60, what="the worker's metrics port")
        assert not (folder / "counter_1.db").exists()
        subprocess.run(
            [str(BIN / "celery"), "-A", "config", "call", "fingerprinting.tasks.clip_attribute_task",
             "--args", f"[{clip.pk}]", "--queue", "attribution"],
            cwd=ROOT, env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        wait_until(
            lambda: Clip.objects.get(pk=clip.pk).status == ClipStatus.REJECTED, timeout=60, what="rejection"
        )

        def rejected() -> float:
            text = requests.get(url, timeout=5).text
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name == "stemma_clips_rejected_total" and sample.labels == {"code": "silent"}:
                        return sample.value
            return 0

        wait_until(lambda: rejected() == 1, timeout=10, what="the worker to serve the count")
        text = requests.get(url, timeout=5).text
        assert "django_db_execute_total" in text  # the pool process's database statements too
        promtool_check(text)
    finally:
        worker.stop()
        redis.stop()
