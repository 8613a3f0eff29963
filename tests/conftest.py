import shutil
import uuid

import pytest
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
def _media_root(tmp_path, settings):
    """Each test writes audio and index files to its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()


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
