import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests
from django.conf import settings
from django.db.backends.signals import connection_created

from config.celery import app as celery_app


def _allow_truncate(sender, connection, **kwargs):
    """Django empties tables with TRUNCATE between transactional tests; the ledger's triggers refuse
    TRUNCATE unless the session opts in, which only the test suite does."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET stemma.allow_truncate = 'on'")


connection_created.connect(_allow_truncate)


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(
        reason="needs PostgreSQL (set DATABASE_URL=postgres://...; CI runs these via .ci/run)"
    )
    skip_redis = pytest.mark.skip(reason="needs Redis and a Celery worker (set REDIS_URL; CI runs these)")
    skip_browser = pytest.mark.skip(reason="needs Debian's chromium (STEMMA_BROWSER_TESTS=1 installs it)")
    for item in items:
        if "postgres" in item.keywords and not settings.DATABASE_IS_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)
        if "browser" in item.keywords and not shutil.which("chromium"):
            item.add_marker(skip_browser)


@pytest.fixture(autouse=True)
def _media_root(request, tmp_path, settings):
    """Each test writes audio and index files to its own folder (and its own bucket when the suite runs
    with STEMMA_TEST_STORAGE=s3), and keeps its own local index cache."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    settings.INDEX_CACHE_DIR = tmp_path / "index-cache"
    from fingerprinting import index as catalog_index

    catalog_index.forget_loaded()
    if os.environ.get("STEMMA_TEST_STORAGE") == "s3":
        request.getfixturevalue("s3_storage")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone S3-compatible server on 127.0.0.1 (a free port), one per test process."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(url, timeout=5)
            break
        except requests.RequestException:  # not listening yet, or still importing (slow on a busy host)
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("moto's S3 server did not start")
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def s3_storage(s3_server, settings):
    """Stored files and index versions in a fresh bucket on the test S3 server."""
    import boto3

    from config.storage import s3_storages

    bucket = f"test-{uuid.uuid4().hex[:16]}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **credentials).create_bucket(
        Bucket=bucket
    )
    settings.STORAGES = s3_storages(
        bucket=bucket,
        endpoint_url=s3_server,
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
        addressing_style="path",
    )
    return bucket


def storage_env() -> dict[str, str]:
    """The environment a child process (a real Celery worker) needs to use the storage this test uses:
    the S3 bucket of `s3_storage` when the suite runs on S3 (settings.STORAGES is the test's own then),
    nothing for the filesystem (MEDIA_ROOT is passed on by the test itself)."""
    from django.conf import settings as django_settings

    options = django_settings.STORAGES["default"].get("OPTIONS", {})
    if "bucket_name" not in options:
        return {"STORAGE_BACKEND": "filesystem"}
    return {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": options["bucket_name"],
        "S3_ENDPOINT_URL": options["endpoint_url"] or "",
        "S3_REGION": options["region_name"] or "",
        "S3_ACCESS_KEY_ID": options["access_key"] or "",
        "S3_SECRET_ACCESS_KEY": options["secret_key"] or "",
        "S3_ADDRESSING_STYLE": options["addressing_style"] or "",
    }


@pytest.fixture(autouse=True)
def _own_cache_keys(settings):
    """Each test sees only its own cache entries (dashboard figures, key lookups, throttle windows),
    on whatever cache backend is configured, without flushing a cache others may share."""
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}"}
        for name, config in settings.CACHES.items()
    }


@pytest.fixture(autouse=True)
def _eager_celery(request):
    """Tasks run in-process unless a test is marked `redis` (it then starts a real worker)."""
    if "redis" in request.keywords:
        yield
        return
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous
