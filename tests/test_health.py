import json
import logging
import time

import pytest

from config.observability import ContextFilter

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_ready(client):
    from config.celery import beat_heartbeat

    beat_heartbeat()  # as celery beat does every 30 s (a no-op in eager mode)
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True


def test_readyz_turns_not_ready_fast_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    started = time.perf_counter()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert time.perf_counter() - started < 5
    assert response.json()["checks"]["redis"]["ok"] is False


def test_request_id_is_echoed_or_made(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"]
    assert made != "bad id with spaces" and len(made) == 32


def test_json_log_lines_carry_ids():
    from pythonjsonlogger.json import JsonFormatter

    from config.observability import request_id_var

    record = logging.LogRecord("stemma", logging.INFO, __file__, 1, "hello", None, None)
    token = request_id_var.set("req-1")
    try:
        ContextFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = JsonFormatter("%(levelname)s %(message)s %(request_id)s %(task_id)s").format(record)
    assert json.loads(line) == {
        "levelname": "INFO",
        "message": "hello",
        "request_id": "req-1",
        "task_id": "-",
    }


def test_metrics_endpoint(client, settings):
    settings.METRICS_TOKEN = "scrape"
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape")
    assert response.status_code == 200
    assert b"django_http_requests" in response.content


def test_readyz_reports_a_silent_beat(settings):
    from config.celery import BEAT_HEARTBEAT_KEY, redis_client
    from config.health import check_beat

    settings.REDIS_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
    redis_client().delete(BEAT_HEARTBEAT_KEY)
    ok, detail = check_beat()
    assert not ok and "heartbeat" in detail
