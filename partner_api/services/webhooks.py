"""Webhook endpoints and deliveries, signed per the Standard Webhooks specification.

Each delivery carries `webhook-id` (the event id, the same on every retry), `webhook-timestamp` (Unix
seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, made with the
endpoint's `whsec_<base64>` secret by the `standardwebhooks` package, whose verifiers exist for most
languages (docs/api.md). The secret is stored encrypted (config.encryption).
"""

import base64
import ipaddress
import json
import logging
import secrets
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from catalog.models import Label, Partner
from catalog.services import audit_record
from config.celery import enqueue_on_commit
from config.encryption import DecryptionFailed
from partner_api.errors import WebhookEventsInvalid, WebhookUrlInvalid
from partner_api.models import LABEL_EVENTS, DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from partner_api.selectors import webhook_endpoints_for_event
from partner_api.tasks import webhook_deliver_task

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 (the Standard Webhooks marker, not a secret)
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64 random bytes
MAX_DELIVERY_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 6 * 3600
DELIVERY_TIMEOUT_SECONDS = 10
# While an attempt runs, the row is leased: a second worker sees it as not due yet.
DELIVERY_LEASE = timedelta(seconds=DELIVERY_TIMEOUT_SECONDS * 3)


def webhook_secret_generate() -> str:
    """`whsec_` + standard base64 of random bytes: the form every Standard Webhooks verifier reads."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_url_check(url: str) -> str:
    """http(s) with a valid port; private and loopback hosts only where WEBHOOK_ALLOW_PRIVATE_HOSTS."""
    invalid = WebhookUrlInvalid("The webhook URL must be an http(s) URL.", fields={"url": [url]})
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port out of 0-65535 or not a number
    except ValueError:
        raise invalid
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise invalid
    if settings.WEBHOOK_ALLOW_PRIVATE_HOSTS:
        return url
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port or 443)}
    except (socket.gaierror, UnicodeError):
        raise WebhookUrlInvalid("The webhook URL's host does not resolve.", fields={"url": [url]})
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
        if not ip.is_global:
            raise WebhookUrlInvalid("The webhook URL must point at a public host.", fields={"url": [url]})
    return url


def webhook_signature_headers(
    *, secret: str, message_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    signature = Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def webhook_backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, ... capped at 6 h."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


@transaction.atomic
def webhook_endpoint_create(
    *, partner: Partner, label: Label, url: str, event_types: Sequence[str], description: str = ""
) -> WebhookEndpoint:
    """A new endpoint with a generated signing secret (the API answers it at creation only)."""
    endpoint = WebhookEndpoint(
        partner=partner,
        label=label,
        url=webhook_url_check(url),
        event_types=sorted(set(event_types)),
        description=description,
    )
    endpoint.secret = webhook_secret_generate()  # stored encrypted (WebhookEndpoint.secret)
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    allowed = {"url", "event_types", "description", "is_active"}
    for name, value in changes.items():
        if name not in allowed:
            raise TypeError(f"cannot change {name}")
        if name == "url":
            value = webhook_url_check(value)
        if name == "event_types":
            value = sorted(set(value))
        setattr(endpoint, name, value)
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def label_webhook_events_check(event_types: Sequence[str]) -> list[str]:
    chosen = sorted(set(event_types))
    if not chosen or any(e not in LABEL_EVENTS for e in chosen):
        raise WebhookEventsInvalid(
            f"A label's endpoint takes these events: {', '.join(LABEL_EVENTS)}.",
            fields={"event_types": [str(e) for e in chosen] or ["(none)"]},
        )
    return chosen


@transaction.atomic
def label_webhook_endpoint_create(
    *, label: Label, url: str, event_types: Sequence[str], description: str = "", actor=None
) -> WebhookEndpoint:
    """The label's own endpoint (no partner), signed like partners' with a generated secret that the
    Webhooks page shows once. Audited."""
    endpoint = WebhookEndpoint(
        partner=None,
        label=label,
        url=webhook_url_check(url),
        event_types=label_webhook_events_check(event_types),
        description=description.strip()[:200],
    )
    endpoint.secret = webhook_secret_generate()  # stored encrypted (WebhookEndpoint.secret)
    endpoint.save()
    audit_record(
        label=label, actor=actor, action="webhook_endpoint.created", obj=endpoint,
        summary=f"label webhook endpoint {endpoint.url} for {', '.join(endpoint.event_types)}",
        data={"url": endpoint.url, "event_types": endpoint.event_types},
    )  # fmt: skip
    return endpoint


@transaction.atomic
def label_webhook_endpoint_set_active(
    *, endpoint: WebhookEndpoint, active: bool, actor=None
) -> WebhookEndpoint:
    """Pause or resume a label endpoint: a paused one gets no new deliveries and its pending ones wait."""
    if not endpoint.is_label_endpoint:
        raise TypeError("not a label endpoint")
    webhook_endpoint_update(endpoint=endpoint, is_active=active)
    audit_record(
        label=endpoint.label, actor=actor, action="webhook_endpoint." + ("resumed" if active else "paused"),
        obj=endpoint, summary=f"label webhook endpoint {endpoint.url} {'resumed' if active else 'paused'}",
    )  # fmt: skip
    return endpoint


@transaction.atomic
def label_webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor=None) -> None:
    """Remove a label endpoint and its delivery log (as a partner's endpoint removal does)."""
    if not endpoint.is_label_endpoint:
        raise TypeError("not a label endpoint")
    audit_record(
        label=endpoint.label, actor=actor, action="webhook_endpoint.deleted", obj=endpoint,
        summary=f"label webhook endpoint {endpoint.url} deleted", data={"url": endpoint.url},
    )  # fmt: skip
    webhook_endpoint_delete(endpoint=endpoint)


@transaction.atomic
def webhook_event_emit(
    *, partner: Partner | None, label: Label, event_type: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """One delivery per endpoint that wants the event, each sent by a task after the commit: the
    partner's endpoints within the label, or with `partner=None` the label's own endpoints."""

    if event_type not in WebhookEvent.values:
        raise ValueError(f"unknown event type {event_type!r}")
    event_id = "evt_" + uuid.uuid4().hex
    payload = {"id": event_id, "type": event_type, "created": timezone.now().isoformat(), "data": data}
    deliveries = []
    for endpoint in webhook_endpoints_for_event(partner=partner, label=label, event_type=event_type):
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event_id=event_id, event_type=event_type, payload=payload
        )
        deliveries.append(delivery)
        enqueue_on_commit(webhook_deliver_task, delivery.pk)
    return deliveries


@dataclass(frozen=True)
class AttemptOutcome:
    attempted: bool
    succeeded: bool = False
    retry_in: timedelta | None = None


def _delivery_claim(delivery_id: int) -> WebhookDelivery | None:
    """Take the next attempt of a due delivery, or None (done, gone, or another worker has it)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + DELIVERY_LEASE, updated_at=now)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)


def _delivery_send(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """POST the payload; (status code or None, error text or "")."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    try:
        signed = webhook_signature_headers(
            secret=delivery.endpoint.secret,
            message_id=delivery.event_id,
            timestamp=datetime.now(tz=UTC),
            body=body,
        )
    except (DecryptionFailed, ValueError) as exc:  # a key dropped too early; a malformed legacy secret
        return None, f"cannot sign: {type(exc).__name__}: {exc}"[:500]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Stemma-Webhooks/2",
        "Stemma-Event-Type": delivery.event_type,
        **signed,
    }
    try:
        webhook_url_check(delivery.endpoint.url)  # DNS may have changed since registration
        response = requests.post(
            delivery.endpoint.url,
            data=body.encode(),
            headers=headers,
            timeout=DELIVERY_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except (requests.RequestException, WebhookUrlInvalid) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


def webhook_delivery_attempt(*, delivery_id: int) -> AttemptOutcome:
    """One attempt of one delivery, recorded. Safe to call twice: a claimed or finished row is skipped.

    Not one transaction on purpose: the claim commits before the HTTP call, so no row lock is held
    while a partner's server takes its time, and the outcome commits after it.
    """
    delivery = _delivery_claim(delivery_id)
    if delivery is None or not delivery.endpoint.is_active:
        return AttemptOutcome(attempted=False)
    status_code, error = _delivery_send(delivery)
    now = timezone.now()
    delivery.last_status_code = status_code
    delivery.last_error = error
    if not error:
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = now
        delivery.save(
            update_fields=["status", "delivered_at", "last_status_code", "last_error", "updated_at"]
        )
        return AttemptOutcome(attempted=True, succeeded=True)
    if delivery.attempts >= MAX_DELIVERY_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        retry_in = None
    else:
        retry_in = webhook_backoff(delivery.attempts)
        delivery.next_attempt_at = now + retry_in
    delivery.save(update_fields=["status", "next_attempt_at", "last_status_code", "last_error", "updated_at"])
    logger.info("webhook delivery %s attempt %s failed: %s", delivery.pk, delivery.attempts, error)
    return AttemptOutcome(attempted=True, retry_in=retry_in)
