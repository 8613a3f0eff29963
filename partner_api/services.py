"""Functions that change partner API state. Each runs in one transaction."""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog.models import Label, Membership, Partner, Role
from fingerprinting.errors import ClipExists
from fingerprinting.models import Clip
from fingerprinting.services import clip_submit
from partner_api.errors import ApiKeyCreateError, ExternalIdConflict, WebhookUrlInvalid
from partner_api.models import (
    ApiKey,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    api_key_hash,
)

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


@transaction.atomic
def apikey_create(*, label: Label, partner: Partner, name: str = "", created_by=None) -> CreatedApiKey:
    """A new key for `partner` acting within `label`. `created_by`, when given, must be a label admin."""
    if created_by is not None and not created_by.is_superuser:
        is_admin = Membership.objects.filter(user=created_by, label=label, role=Role.ADMIN).exists()
        if not is_admin:
            raise ApiKeyCreateError(f"{created_by} is not an admin of {label}.")
    prefix, raw_key = ApiKey.generate()
    api_key = ApiKey.objects.create(
        label=label,
        partner=partner,
        name=name[:200],
        prefix=prefix,
        key_hash=api_key_hash(raw_key),
        created_by=created_by,
    )
    return CreatedApiKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def apikey_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; revoking a revoked key keeps its first revocation time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


# --------------------------------------------------------------------------------------------- clips


@dataclass(frozen=True)
class ClipMetadata:
    external_id: str
    title: str = ""
    model_name: str = ""
    model_version: str = ""
    generated_at: datetime | None = None
    declared_references: tuple[str, ...] = ()
    extra: dict[str, Any] | None = None

    def matches(self, clip: Clip) -> bool:
        return (
            clip.title == self.title
            and clip.model_name == self.model_name
            and clip.model_version == self.model_version
            and clip.generated_at == self.generated_at
            and list(clip.declared_references) == list(self.declared_references)
            and clip.extra == (self.extra or {})
        )


def _same_submission(clip: Clip, *, label: Label, metadata: ClipMetadata, audio_sha256: str) -> bool:
    return clip.label_id == label.pk and clip.audio_sha256 == audio_sha256 and metadata.matches(clip)


@transaction.atomic
def partner_clip_submit(
    *, label: Label, partner: Partner, audio: File, audio_sha256: str, metadata: ClipMetadata
) -> tuple[Clip, bool]:
    """Submit a clip for a partner; (clip, created). A replay of the same submission is not an error.

    `external_id` is unique per partner: the same file and metadata under a used external id return
    the existing clip; anything else under it is a conflict (409), so a partner's retry never creates a
    second clip and never silently changes the first.
    """
    lookup = {"partner": partner, "external_id": metadata.external_id}
    existing = Clip.objects.filter(**lookup).first()
    if existing is not None:
        if _same_submission(existing, label=label, metadata=metadata, audio_sha256=audio_sha256):
            return existing, False
        raise ExternalIdConflict(
            f"external_id {metadata.external_id!r} was already used for a different clip.",
            fields={"external_id": [metadata.external_id]},
        )
    try:
        clip = clip_submit(
            label=label,
            partner=partner,
            audio=audio,
            external_id=metadata.external_id,
            title=metadata.title,
            model_name=metadata.model_name,
            model_version=metadata.model_version,
            generated_at=metadata.generated_at,
            declared_references=metadata.declared_references,
            extra=metadata.extra,
        )
    except ClipExists:
        # Lost a race with an identical request: its clip is committed now, and is the answer.
        existing = Clip.objects.filter(**lookup).first()
        if existing is not None and _same_submission(
            existing, label=label, metadata=metadata, audio_sha256=audio_sha256
        ):
            return existing, False
        raise ExternalIdConflict(
            f"external_id {metadata.external_id!r} was already used for a different clip.",
            fields={"external_id": [metadata.external_id]},
        )
    return clip, True


# ------------------------------------------------------------------------------------------ webhooks

SIGNATURE_HEADER = "Stemma-Signature"
MAX_DELIVERY_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 6 * 3600
DELIVERY_TIMEOUT_SECONDS = 10
# While an attempt runs, the row is leased: a second worker sees it as not due yet.
DELIVERY_LEASE = timedelta(seconds=DELIVERY_TIMEOUT_SECONDS * 3)


def webhook_url_check(url: str) -> str:
    """http(s) only; private and loopback hosts only where WEBHOOK_ALLOW_PRIVATE_HOSTS (default: DEBUG)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlInvalid("The webhook URL must be an http(s) URL.", fields={"url": [url]})
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE_HOSTS", settings.DEBUG):
        return url
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError):
        raise WebhookUrlInvalid("The webhook URL's host does not resolve.", fields={"url": [url]})
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global:
            raise WebhookUrlInvalid("The webhook URL must point at a public host.", fields={"url": [url]})
    return url


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`, hex; sent as `Stemma-Signature: t=<ts>,v1=<hex>`."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, ... capped at 6 h."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS))


@transaction.atomic
def webhook_endpoint_create(
    *, partner: Partner, label: Label, url: str, event_types: Sequence[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """(endpoint, secret): the signing secret is answered once at creation."""
    secret = "whsec_" + secrets.token_urlsafe(24)
    endpoint = WebhookEndpoint.objects.create(
        partner=partner,
        label=label,
        url=webhook_url_check(url),
        secret=secret,
        event_types=sorted(set(event_types)),
        description=description,
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    allowed = {"url", "event_types", "description", "is_active"}
    for field, value in changes.items():
        if field not in allowed:
            raise TypeError(f"cannot change {field}")
        if field == "url":
            value = webhook_url_check(value)
        if field == "event_types":
            value = sorted(set(value))
        setattr(endpoint, field, value)
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


@transaction.atomic
def webhook_event_emit(
    *, partner: Partner, label: Label, event_type: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """One delivery per endpoint that wants the event, each sent by a task after the commit."""
    from partner_api.selectors import webhook_endpoints_for_event
    from partner_api.tasks import webhook_deliver_task

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
        transaction.on_commit(lambda pk=delivery.pk: webhook_deliver_task.delay(pk))
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
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    signature = webhook_signature(secret=delivery.endpoint.secret, timestamp=timestamp, body=body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Stemma-Webhooks/1",
        SIGNATURE_HEADER: f"t={timestamp},v1={signature}",
        "Stemma-Event-Id": delivery.event_id,
        "Stemma-Event-Type": delivery.event_type,
    }
    try:
        webhook_url_check(delivery.endpoint.url)  # DNS may have changed since registration
        response = requests.post(
            delivery.endpoint.url,
            data=body,
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
