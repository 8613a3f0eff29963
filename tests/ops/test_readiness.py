"""/readyz turns not-ready within 5 s of Redis or PostgreSQL going away, and ready again after."""

import time

import pytest
import requests
from django.conf import settings
from redis import Redis as RedisClient

from config.celery import BEAT_HEARTBEAT_KEY
from tests.ops.harness import RedisServer, TcpProxy, app_env, database_url, gunicorn, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_readyz_follows_redis_and_postgresql(tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    db = settings.DATABASES["default"]
    proxy = TcpProxy(int(db.get("PORT") or 5432), db.get("HOST") or "127.0.0.1")
    proxy.start()
    env = app_env(DATABASE_URL=database_url(proxy.port), REDIS_URL=redis.url)
    web, base = gunicorn(env, tmp_path / "web.log", workers=1)
    try:
        beat = RedisClient.from_url(redis.url)
        beat.set(BEAT_HEARTBEAT_KEY, repr(time.time()))  # as celery beat's heartbeat task does

        def status() -> int:
            return requests.get(f"{base}/readyz", timeout=6).status_code

        wait_until(lambda: status() == 200, timeout=10, what="ready at start")

        redis.stop()
        took = wait_until(lambda: status() == 503, timeout=5, interval=0.2, what="not ready without Redis")
        print(f"redis stopped: /readyz answered 503 after {took:.2f} s")
        redis.start()
        beat.set(BEAT_HEARTBEAT_KEY, repr(time.time()))
        wait_until(lambda: status() == 200, timeout=10, what="ready again with Redis")

        proxy.cut()
        took = wait_until(
            lambda: status() == 503, timeout=5, interval=0.2, what="not ready without PostgreSQL"
        )
        print(f"postgresql cut: /readyz answered 503 after {took:.2f} s")
        body = requests.get(f"{base}/readyz", timeout=6).json()
        assert body["checks"]["database"]["ok"] is False
        proxy.restore()
        wait_until(lambda: status() == 200, timeout=10, what="ready again with PostgreSQL")
    finally:
        web.stop()
        proxy.cut()
        redis.stop()
