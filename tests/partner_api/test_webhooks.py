"""Webhook endpoints, signed deliveries to a local server, retries with backoff, and the delivery log."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from fingerprinting import events
from partner_api.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from partner_api.services import (
    BACKOFF_BASE_SECONDS,
    MAX_DELIVERY_ATTEMPTS,
    webhook_backoff,
    webhook_delivery_attempt,
    webhook_event_emit,
)
from tests.partner_api.conftest import make_attribution, make_clip

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks"


class Receiver:
    """A local HTTP server that verifies each request as a partner would: with the Standard Webhooks
    reference verifier (`standardwebhooks`) and the secret the API answered at registration."""

    def __init__(self, status: int = 200):
        self.status = status
        self.secret = ""
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                    valid = True
                except WebhookVerificationError:
                    valid = False
                receiver.received.append(
                    {
                        "valid": valid,
                        "payload": json.loads(body),
                        "event_type": self.headers["Stemma-Event-Type"],
                        "webhook_id": self.headers["webhook-id"],
                    }
                )
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def register(cell, url, events_=("clip.attributed", "clip.rejected", "usage_report.processed")):
    response = cell.client().post(WEBHOOKS, {"url": url, "event_types": list(events_)}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_crud_and_the_secret_is_shown_once(world):
    client = world.a1.client()
    created = register(world.a1, "https://hooks.example.com/stemma")
    assert created["secret"].startswith("whsec_")
    detail = client.get(f"{WEBHOOKS}/{created['id']}").json()
    assert "secret" not in detail
    assert client.get(WEBHOOKS).json()["results"][0]["id"] == created["id"]
    patched = client.patch(f"{WEBHOOKS}/{created['id']}", {"is_active": False}, format="json")
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert client.delete(f"{WEBHOOKS}/{created['id']}").status_code == 204
    assert client.get(f"{WEBHOOKS}/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/x", "event_types": ["clip.attributed"]},
        {"url": "https://example.com/x", "event_types": ["clip.exploded"]},
        {"url": "https://example.com/x", "event_types": []},
        {"url": "not a url", "event_types": ["clip.attributed"]},
    ],
)
def test_bad_endpoints_are_400(world, body):
    response = world.a1.client().post(WEBHOOKS, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid", "webhook_url_invalid"}
    assert not WebhookEndpoint.objects.exists()


def test_private_hosts_are_refused_outside_debug(world, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    response = world.a1.client().post(
        WEBHOOKS, {"url": "http://127.0.0.1:9/x", "event_types": ["clip.attributed"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_url_invalid"


def test_attribution_event_is_delivered_signed_to_the_partners_endpoint_only(
    world, receiver, django_capture_on_commit_callbacks
):
    receiver.secret = register(world.a1, receiver.url)["secret"]
    register(world.b1, receiver.url)  # same partner, other label: must not hear about a1's clip
    clip = make_clip(world.a1)
    with django_capture_on_commit_callbacks(execute=True):
        attribution = make_attribution(clip)
        events.publish("clip.attributed", clip=clip, attribution=attribution)

    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got["valid"] is True
    assert got["event_type"] == got["payload"]["type"] == "clip.attributed"
    assert got["payload"]["data"]["clip"]["id"] == clip.pk
    assert got["payload"]["data"]["attribution"]["version"] == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)

    deliveries = world.a1.client().get(f"{WEBHOOKS}/{delivery.endpoint_id}/deliveries").json()["results"]
    assert [(d["event_type"], d["status"], d["attempts"]) for d in deliveries] == [
        ("clip.attributed", "succeeded", 1)
    ]


def test_failing_endpoint_is_retried_with_backoff_and_recorded(world, django_capture_on_commit_callbacks):
    failing = Receiver(status=503)
    try:
        failing.secret = register(world.a1, failing.url)["secret"]
        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_emit(
                partner=world.a1.partner, label=world.a1.label, event_type="clip.rejected", data={"x": 1}
            )
        delivery = WebhookDelivery.objects.get()
        waits = []
        while delivery.status == DeliveryStatus.PENDING:
            before = timezone.now()
            waits.append(delivery.next_attempt_at - before)
            # Time travel: the retry is due now (the task came back after its countdown).
            WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=before)
            webhook_delivery_attempt(delivery_id=delivery.pk)
            delivery.refresh_from_db()
            assert delivery.last_status_code == 503 and "HTTP 503" in delivery.last_error
            if delivery.status == DeliveryStatus.PENDING:
                expected = webhook_backoff(delivery.attempts)
                assert abs((delivery.next_attempt_at - timezone.now()) - expected) < timedelta(seconds=5)
        assert delivery.status == DeliveryStatus.FAILED
        assert delivery.attempts == MAX_DELIVERY_ATTEMPTS == len(failing.received)
        assert all(r["valid"] for r in failing.received)
    finally:
        failing.close()
    assert [webhook_backoff(n).total_seconds() for n in (1, 2, 3)] == [
        BACKOFF_BASE_SECONDS,
        2 * BACKOFF_BASE_SECONDS,
        4 * BACKOFF_BASE_SECONDS,
    ]


def test_an_attempt_that_is_not_due_or_done_is_skipped(world, receiver, django_capture_on_commit_callbacks):
    receiver.secret = register(world.a1, receiver.url)["secret"]
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_emit(
            partner=world.a1.partner, label=world.a1.label, event_type="clip.rejected", data={}
        )
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert webhook_delivery_attempt(delivery_id=delivery.pk).attempted is False  # a task run twice
    assert webhook_delivery_attempt(delivery_id=999999).attempted is False  # a row that is gone
    assert len(receiver.received) == 1


def test_the_task_comes_back_after_the_backoff(world, monkeypatch, django_capture_on_commit_callbacks):
    from partner_api.tasks import webhook_deliver_task

    failing = Receiver(status=500)
    try:
        failing.secret = register(world.a1, failing.url)["secret"]
        monkeypatch.setattr(webhook_deliver_task, "delay", lambda *a, **k: None)  # queue nothing yet
        with django_capture_on_commit_callbacks(execute=True):
            webhook_event_emit(
                partner=world.a1.partner, label=world.a1.label, event_type="clip.rejected", data={}
            )
        delivery = WebhookDelivery.objects.get()

        retries = []

        class Retry(Exception):
            pass

        def retry(**kwargs):
            retries.append(kwargs)
            return Retry()

        monkeypatch.setattr(webhook_deliver_task, "retry", retry)
        with pytest.raises(Retry):
            webhook_deliver_task(delivery.pk)  # as a worker runs it (not eagerly)
        assert retries == [{"countdown": BACKOFF_BASE_SECONDS}]
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    finally:
        failing.close()


def test_the_sweeper_requeues_due_deliveries_only(world, monkeypatch, django_capture_on_commit_callbacks):
    from partner_api import tasks

    queued = []
    monkeypatch.setattr(tasks.webhook_deliver_task, "delay", queued.append)
    register(world.a1, "http://127.0.0.1:9/hook")
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_emit(
            partner=world.a1.partner, label=world.a1.label, event_type="clip.rejected", data={}
        )
        webhook_event_emit(
            partner=world.a1.partner, label=world.a1.label, event_type="clip.attributed", data={}
        )
    first, second = WebhookDelivery.objects.order_by("pk")
    WebhookDelivery.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    queued.clear()
    assert tasks.webhook_deliveries_due_task() == 1
    assert queued == [first.pk]
