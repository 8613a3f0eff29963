"""Stemma on several hosts: network namespaces on this machine (tests/ops/netns.py), no shared folder.

- data host (the root namespace): PostgreSQL (through a proxy on the bridge), a private Redis and the S3
  server (moto), all on the bridge's address;
- web host: gunicorn; worker hosts 1 and 2: one Celery attribution worker each, each with its own
  scratch folder (MEDIA_ROOT, var, index cache), everything stored going through the bucket.

Clips are submitted over HTTP to the web host. A catalog update is indexed from worker host 1 while
clips are served; both workers then use the new version. Worker host 1 is killed mid-clip and the sweep
hands its clip to worker host 2. Every clip is attributed exactly once, both workers served clips
and fetched the new version into their own cache, and no host holds a stored file outside its cache.
"""

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta

import numpy as np
import pytest
import requests
import soundfile
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone

from catalog.models import RecordingStatus
from catalog.services import recording_attach_audio
from demo.synth import synthesize, write_wav
from fingerprinting.models import Attribution, Clip, ClipStatus, IndexVersion
from fingerprinting.services import catalog_index_update
from partner_api.services import apikey_create
from tests.factories import LabelFactory, PartnerFactory, RecordingFactory
from tests.ops.harness import BIN, ROOT, Process, TcpProxy, app_env, free_port, wait_until
from tests.ops.netns import NetnsUnavailable, Network

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SR = 22050
PHASE_TIMEOUT = 420  # seconds; a busy 2-core machine attributes a clip in a few seconds

# A worker that stalls on a claimed clip once the flag file exists, so the test can kill its host
# mid-attribution; otherwise an ordinary attribution worker.
WORKER = """
import os, pathlib, sys, time
import django
django.setup()
import fingerprinting.services as services
real = services.audio_attribute
flag, claimed = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def maybe_stall(*args, **kwargs):
    if flag.exists():
        claimed.write_text("claimed")
        time.sleep(600)
    return real(*args, **kwargs)
services.audio_attribute = maybe_stall
from config.celery import app
app.worker_main(["worker", "-Q", "attribution,io", "--pool", "solo", "-n", sys.argv[3] + "@%h",
                 "--without-gossip", "--without-mingle", "--loglevel", "INFO"])
"""


def piece(seed: int) -> np.ndarray:
    return np.concatenate([synthesize(seed * 10 + k, 8.0) for k in range(3)])


def wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, SR, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture
def network():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_NET_ADMIN); CI runs as root")
    if not shutil.which("ip"):
        pytest.skip("iproute2 (`ip`) is not installed")
    net = Network()
    try:
        net.up()
        for name in ("web", "w1", "w2"):
            net.add_host(name)
    except NetnsUnavailable as exc:
        net.down()
        pytest.skip(f"cannot create network namespaces here: {exc}")
    yield net
    for name in net.hosts:
        for pid in net.pids(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    net.down()


@pytest.fixture
def data_host(network, tmp_path, settings):
    """PostgreSQL (proxied), Redis and the S3 server on the bridge address; the bucket made."""
    import boto3

    from config.storage import s3_storages

    address = network.data_address
    db = settings.DATABASES["default"]
    proxy = TcpProxy(int(db.get("PORT") or 5432), listen_host=address, idle_timeout=None)
    proxy.start()
    redis_port, s3_port = free_port(), free_port()
    (tmp_path / "redis").mkdir()
    redis = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(redis_port), "--bind", address,
         "--save", "", "--appendonly", "no", "--dir", str(tmp_path / "redis"),
         "--protected-mode", "no"],  # reachable only on the test bridge
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    s3 = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", address, "-p", str(s3_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://{address}:{s3_port}"
    try:
        wait_until(lambda: requests.get(endpoint, timeout=5).status_code < 500, timeout=60, what="moto")
        credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials).create_bucket(
            Bucket="stemma-hosts"
        )
        settings.STORAGES = s3_storages(
            bucket="stemma-hosts", endpoint_url=endpoint, region="us-east-1", access_key="testing",
            secret_key="testing", addressing_style="path",
        )  # fmt: skip
        common = {
            "DATABASE_URL": f"postgres://{db['USER']}@{address}:{proxy.port}/{db['NAME']}",
            "REDIS_URL": f"redis://{address}:{redis_port}/0",
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": "stemma-hosts",
            "S3_ENDPOINT_URL": endpoint,
            "S3_REGION": "us-east-1",
            "S3_ACCESS_KEY_ID": "testing",
            "S3_SECRET_ACCESS_KEY": "testing",
            "S3_ADDRESSING_STYLE": "path",
            "CLIP_PROCESSING_TIMEOUT_SECONDS": "30",
            "ALLOWED_HOSTS": network.addresses["web"],
        }
        yield common
    finally:
        s3.terminate()
        redis.terminate()
        proxy.cut()


def host_env(common: dict, root) -> dict:
    """A host's environment: the shared services, and folders of its own (its 'disk')."""
    root.mkdir(parents=True, exist_ok=True)
    return app_env(
        **common,
        STEMMA_VAR_DIR=str(root / "var"),
        MEDIA_ROOT=str(root / "media"),
        STATIC_ROOT=str(root / "static"),
        INDEX_CACHE_DIR=str(root / "index-cache"),
        STEMMA_TEST_STORAGE="",
    )


def received(log) -> int:
    return log.read_text(errors="replace").count("clip_attribute_task") if log.exists() else 0


def submit(base: str, key: str, external_id: str, audio: bytes) -> int:
    response = requests.post(
        f"{base}/api/v1/clips",
        headers={"Authorization": f"Bearer {key}"},
        data={"external_id": external_id, "title": external_id},
        files={"audio": (f"{external_id}.wav", audio, "audio/wav")},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def all_attributed(ids: list[int]) -> bool:
    return not Clip.objects.filter(pk__in=ids).exclude(status=ClipStatus.ATTRIBUTED).exists()


def stored_files(folder) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_clips_over_three_hosts_with_a_reindex_and_a_killed_worker_host(network, data_host, tmp_path):
    label, partner = LabelFactory(slug="hosts-label"), PartnerFactory(slug="hosts-partner")
    for n in range(4):
        recording = RecordingFactory(label=label, title=f"Hosts piece {n}")
        path = tmp_path / f"rec-{n}.wav"
        write_wav(path, piece(800 + n), SR)
        recording_attach_audio(recording=recording, path=path)  # into the bucket
    first = catalog_index_update(label=label)
    key = apikey_create(label=label, partner=partner, name="hosts").raw_key

    env = {name: host_env(data_host, tmp_path / "hosts" / name) for name in ("web", "w1", "w2")}
    web_address = network.addresses["web"]
    web = Process(
        network.run_in("web", [str(BIN / "gunicorn"), "config.wsgi:application", "--bind", f"{web_address}:8000",
                               "--workers", "2", "--timeout", "60"]),
        env["web"], tmp_path / "web.log",
    ).start()  # fmt: skip
    base = f"http://{web_address}:8000"
    flag, claimed = tmp_path / "stall-w1", tmp_path / "w1-claimed"
    logs = {name: tmp_path / f"{name}.log" for name in ("w1", "w2")}
    workers = {
        name: Process(
            network.run_in(name, [sys.executable, "-c", WORKER, str(flag if name == "w1" else tmp_path / "never"),
                                  str(claimed), name]),
            env[name], logs[name],
        ).start()
        for name in ("w1", "w2")
    }  # fmt: skip
    try:
        wait_until(lambda: requests.get(f"{base}/healthz", timeout=2).ok, timeout=90, what="web host")

        # 1. Clips over HTTP to the web host; both worker hosts serve them.
        ids = [
            submit(base, key, f"a-{i}", wav(piece(800 + i % 4)[SR * (1 + i) : SR * (11 + i)]))
            for i in range(6)
        ]
        wait_until(lambda: all_attributed(ids), timeout=PHASE_TIMEOUT, what="phase 1 clips attributed")
        served = {name: received(log) for name, log in logs.items()}
        print(f"phase 1: {len(ids)} clips attributed; task log lines per worker host {served}")

        # 2. New recordings, indexed from worker host 1 while clips keep coming.
        for n in (4, 5):
            recording = RecordingFactory(label=label, title=f"Hosts piece {n}")
            recording.audio.save(f"hosts-{n}.wav", ContentFile(wav(piece(800 + n))), save=False)
            recording.status = RecordingStatus.PENDING
            recording.save()
        indexer = Process(
            network.run_in("w1", [sys.executable, "manage.py", "index_catalog", "--label", label.slug,
                                  "--no-progress"]),
            env["w1"], tmp_path / "index.log",
        ).start()  # fmt: skip
        during = [submit(base, key, f"b-{i}", wav(piece(800 + i)[SR * 2 : SR * 12])) for i in range(3)]
        assert indexer.process.wait(PHASE_TIMEOUT) == 0, (tmp_path / "index.log").read_text()
        second = IndexVersion.objects.get(label=label, is_current=True)
        assert second.version != first.version and second.n_recordings == 6
        wait_until(lambda: all_attributed(during), timeout=PHASE_TIMEOUT, what="clips during the reindex")

        # 3. Both worker hosts use the new version.
        before = {name: received(log) for name, log in logs.items()}
        after_ids = [
            submit(base, key, f"c-{i}", wav(piece(800 + i % 6)[SR * (2 + i) : SR * (12 + i)]))
            for i in range(8)
        ]
        wait_until(lambda: all_attributed(after_ids), timeout=PHASE_TIMEOUT, what="phase 3 clips attributed")
        versions = set(
            Attribution.objects.filter(clip_id__in=after_ids).values_list("index_version", flat=True)
        )
        served3 = {name: received(log) - before[name] for name, log in logs.items()}
        print(
            f"phase 3: new version {second.version}; attributed against {versions}; task log lines {served3}"
        )
        assert versions == {second.version}
        for name in ("w1", "w2"):
            assert served3[name] > 0, f"worker host {name} served no clip after the reindex"
            cache = tmp_path / "hosts" / name / "index-cache" / f"label-{label.pk}"
            assert (cache / second.version / "meta.json").exists(), f"{name} did not fetch {second.version}"

        # 4. Worker host 1 dies mid-clip; the sweep hands its clip to worker host 2.
        flag.write_text("stall")
        killed = [submit(base, key, f"d-{i}", wav(piece(801 + i)[SR * 3 : SR * 13])) for i in range(4)]
        wait_until(claimed.exists, timeout=PHASE_TIMEOUT, what="worker host 1 to claim a clip")
        for pid in network.pids("w1"):
            os.kill(pid, signal.SIGKILL)
        stuck = list(
            Clip.objects.filter(pk__in=killed, status=ClipStatus.PROCESSING).values_list("pk", flat=True)
        )
        print(f"phase 4: worker host 1 killed holding clips {stuck}")
        assert stuck
        sweep_env = host_env(data_host, tmp_path / "hosts" / "beat")
        deadline = time.monotonic() + PHASE_TIMEOUT
        while not all_attributed(killed) and time.monotonic() < deadline:
            past = timezone.now() - timedelta(hours=1)  # stuck for longer than the timeout, without waiting
            Clip.objects.filter(pk__in=stuck, status=ClipStatus.PROCESSING).update(
                processing_started_at=past, updated_at=past
            )
            subprocess.run(
                [str(BIN / "celery"), "-A", "config", "call", "fingerprinting.tasks.clip_sweep_task"],
                cwd=ROOT, env=sweep_env, check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            time.sleep(5)
        assert all_attributed(killed), list(Clip.objects.filter(pk__in=killed).values_list("pk", "status"))

        # Every clip attributed exactly once; no host holds a stored file outside its index cache.
        every = ids + during + after_ids + killed
        counts = [Attribution.objects.filter(clip_id=pk).count() for pk in every]
        print(f"done: {len(every)} clips, attribution versions per clip {sorted(set(counts))}")
        assert counts == [1] * len(every)
        for name in ("web", "w1", "w2"):
            assert stored_files(tmp_path / "hosts" / name / "media") == [], f"{name} stored a file locally"
        for name in ("w1", "w2"):
            cache = tmp_path / "hosts" / name / "index-cache" / f"label-{label.pk}"
            for entry in cache.iterdir():
                assert entry.name.startswith("v") and (entry / "meta.json").exists(), entry
        assert stored_files(settings.MEDIA_ROOT) == []
    finally:
        for process in (*workers.values(), web):
            process.kill()
