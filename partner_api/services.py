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
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from catalog.models import Label, Membership, Partner, Role
from catalog.services import audit_record
from config.celery import enqueue_on_commit
from fingerprinting.errors import ClipExists
from fingerprinting.models import Clip
from fingerprinting.services import clip_submit
from partner_api import usage_dsr
from partner_api.errors import (
    ApiKeyCreateError,
    ExternalIdConflict,
    PayloadTooLarge,
    UsageReportConflict,
    UsageReportInvalid,
    WebhookUrlInvalid,
)
from partner_api.models import (
    ApiKey,
    DeliveryStatus,
    IdempotencyRecord,
    UsageReport,
    UsageReportStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    api_key_hash,
)
from partner_api.selectors import APIKEY_CACHE_SECONDS, apikey_cache_key, webhook_endpoints_for_event
from partner_api.serializers import UsageHeaderSerializer, UsageLineInputSerializer, UsageReportSerializer
from partner_api.tasks import usage_report_process_task, webhook_deliver_task
from partner_api.usage_csv import ParsedReport, usage_csv_decode, usage_csv_lines, usage_csv_parse_header
from royalties.services import UsageLineInput, usage_ingest

logger = logging.getLogger(__name__)
MAX_LISTED_REJECTIONS = 10_000  # a report lists at most this many rejected lines (the count is exact)

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
    audit_record(
        label=label,
        actor=created_by,
        action="apikey.created",
        obj=api_key,
        summary=f"API key {prefix} ({name or 'unnamed'}) created for {partner.name}",
        data={"partner": partner.slug, "prefix": prefix},
    )
    return CreatedApiKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def apikey_revoke(*, api_key: ApiKey, revoked_by=None) -> ApiKey:
    """Revoke a key; revoking a revoked key keeps its first revocation time."""
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    if revoked:
        audit_record(
            label=api_key.label,
            actor=revoked_by,
            action="apikey.revoked",
            obj=api_key,
            summary=f"API key {api_key.prefix} of {api_key.partner.name} revoked",
            data={"partner": api_key.partner.slug, "prefix": api_key.prefix},
        )
    # Dropped now and again after the commit: a request racing the revocation may re-cache the old row.
    prefix = api_key.prefix
    cache.delete(apikey_cache_key(prefix))
    transaction.on_commit(lambda: cache.delete(apikey_cache_key(prefix)))
    return api_key


def apikey_touch(*, api_key: ApiKey, now: datetime) -> None:
    """Record a use (callers do it at most once a minute per key) and refresh the cached copy."""
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
    cache.set(apikey_cache_key(api_key.prefix), api_key, APIKEY_CACHE_SECONDS)


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


def _external_id_lock(*, partner: Partner, external_id: str) -> None:
    """Serialise submissions of one (partner, external_id) until the transaction ends (PostgreSQL).

    Without it, two identical racing requests both pass the existence check, and the loser cannot tell
    whether `clip_submit` created its clip or found the winner's. SQLite serialises writers anyway.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"clip-external-id:{partner.pk}:{external_id}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)])


@transaction.atomic
def partner_clip_submit(
    *, label: Label, partner: Partner, audio: File, audio_sha256: str, metadata: ClipMetadata
) -> tuple[Clip, bool]:
    """Submit a clip for a partner; (clip, created). A replay of the same submission is not an error.

    `external_id` is unique per partner: the same file and metadata under a used external id return
    the existing clip; anything else under it is a conflict (409), so a partner's retry never creates a
    second clip and never silently changes the first.
    """
    _external_id_lock(partner=partner, external_id=metadata.external_id)
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
) -> WebhookEndpoint:
    """A new endpoint with a generated signing secret (the API answers it at creation only)."""
    return WebhookEndpoint.objects.create(
        partner=partner,
        label=label,
        url=webhook_url_check(url),
        secret="whsec_" + secrets.token_urlsafe(24),
        event_types=sorted(set(event_types)),
        description=description,
    )


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


@transaction.atomic
def webhook_event_emit(
    *, partner: Partner, label: Label, event_type: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """One delivery per endpoint that wants the event, each sent by a task after the commit."""

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


# --------------------------------------------------------------------------------------------- usage

MAX_USAGE_BATCH_LINES = 10_000
USAGE_REASONS = {
    "clip_unknown": "No clip with this clip_id or external_id for this key.",
    "date_out_of_range": "usage_date is outside the period, before 2000 or in the future.",
    "line_id_reused": "This line_id was already reported with different content.",
    "period_closed": "The royalty period of this usage_date is closed; report an adjustment instead.",
    "partner_line_id_invalid": "line_id must be 1 to 100 characters.",
    "revenue_invalid": "net_revenue must be a finite number.",
    "revenue_precision": "net_revenue has more than 6 decimal places.",
    "currency_unknown": "Unknown currency.",
    "usage_count_invalid": "usage_count must be a whole number >= 0.",
    "negative_revenue_not_adjustment": "net_revenue must not be negative.",
    "territory_invalid": "territory must be an ISO 3166-1 alpha-2 code.",
    "line_invalid": "The line does not have the right fields.",
}


@dataclass(frozen=True)
class UsageHeader:
    currency: str
    period_start: date
    period_end: date


@dataclass(frozen=True)
class UsageLineIn:
    line_no: int  # 1-based: position in the batch, or line number in the CSV file
    line_id: str
    usage_count: int
    net_revenue: Decimal
    usage_date: date | None = None
    territory: str = ""
    clip_id: int | None = None
    external_id: str | None = None


@dataclass
class UsageOutcome:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def usage_rejection(*, line_no: int, line_id: str, code: str, detail: str = "") -> dict[str, Any]:
    return {
        "line": line_no,
        "line_id": line_id,
        "code": code,
        "reason": detail or USAGE_REASONS.get(code, code),
    }


def _clips_in_scope(*, partner: Partner, label: Label, lines: Sequence[UsageLineIn]) -> dict[tuple, int]:
    """{("id", n) or ("ext", s): clip id} for the lines' clips that belong to this (partner, label)."""
    clips = Clip.objects.filter(partner=partner, label=label)
    ids = {line.clip_id for line in lines if line.clip_id is not None}
    externals = {line.external_id for line in lines if line.clip_id is None and line.external_id}
    found: dict[tuple, int] = {}
    id_list, ext_list = sorted(ids), sorted(externals)
    for start in range(0, len(id_list), 5000):
        for pk in clips.filter(pk__in=id_list[start : start + 5000]).values_list("pk", flat=True):
            found["id", pk] = pk
    for start in range(0, len(ext_list), 5000):
        rows = clips.filter(external_id__in=ext_list[start : start + 5000]).values_list("pk", "external_id")
        for pk, external_id in rows:
            found["ext", external_id] = pk
    return found


@transaction.atomic
def usage_lines_ingest(
    *, partner: Partner, label: Label, header: UsageHeader, lines: Sequence[UsageLineIn]
) -> UsageOutcome:
    """Usage lines of one (partner, label) for the ledger; each line accepted, duplicate or rejected.

    Clips are resolved within the key's label here (the royalties service resolves per partner), so a
    key never reports usage on another label's clip. Rejected lines write nothing; a line id already
    reported with the same content is a duplicate, counted once.
    """
    outcome = UsageOutcome()
    clips = _clips_in_scope(partner=partner, label=label, lines=lines)
    inputs: list[UsageLineInput] = []
    sources: list[UsageLineIn] = []
    for line in lines:
        key = ("id", line.clip_id) if line.clip_id is not None else ("ext", line.external_id)
        usage_date = line.usage_date or header.period_start
        if key not in clips:
            outcome.rejected.append(
                usage_rejection(line_no=line.line_no, line_id=line.line_id, code="clip_unknown")
            )
        elif not header.period_start <= usage_date <= header.period_end:
            outcome.rejected.append(
                usage_rejection(line_no=line.line_no, line_id=line.line_id, code="date_out_of_range")
            )
        else:
            sources.append(line)
            inputs.append(
                UsageLineInput(
                    partner_line_id=line.line_id,
                    usage_date=usage_date,
                    usage_count=line.usage_count,
                    net_revenue=line.net_revenue,
                    currency=header.currency,
                    clip_id=clips[key],
                    territory=line.territory,
                )
            )
    if inputs:
        result = usage_ingest(partner=partner, lines=inputs)
        outcome.accepted += result.accepted
        outcome.duplicates += result.duplicates
        for line_outcome in result.rejections:
            source = sources[line_outcome.index]
            code = line_outcome.reasons[0] if line_outcome.reasons else "line_invalid"
            outcome.rejected.append(
                usage_rejection(line_no=source.line_no, line_id=source.line_id, code=code)
            )
    outcome.rejected.sort(key=lambda r: r["line"])
    return outcome


@transaction.atomic
@dataclass(frozen=True)
class UsageReportUpload:
    report: UsageReport
    replayed: bool  # the same file was uploaded before under this report id


def usage_report_create(*, partner: Partner, label: Label, upload: File) -> UsageReportUpload:
    """Store a CSV usage report whose header is valid and queue its lines; a bad file writes nothing.

    The header's report id is the idempotency key: the same file again is answered with the report
    already stored (processed once); another file under a used report id is a conflict."""
    if upload.size > settings.MAX_CSV_UPLOAD_BYTES:
        raise PayloadTooLarge(f"The file is larger than {settings.MAX_CSV_UPLOAD_BYTES} bytes.")
    upload.seek(0)
    data = upload.read()
    if usage_dsr.is_dsr(data):  # a DDEX DSR flat file (docs/ddex.md): its HEAD and summary give the header
        parsed = usage_dsr.dsr_report_header(data)
    else:
        parsed = usage_csv_parse_header(usage_csv_decode(data))
        for _ in usage_csv_lines(parsed):  # the CSV structure (quoting, field sizes) is checked whole now
            pass
    header = UsageHeaderSerializer(data=parsed.header)
    if not header.is_valid():
        raise UsageReportInvalid("The HEAD line has invalid values.", fields=header.errors)
    sha256 = hashlib.sha256(data).hexdigest()
    scope = {"partner": partner, "label": label, "report_ref": parsed.report_ref}
    existing = UsageReport.objects.filter(**scope).first()
    if existing is None:
        report = UsageReport(**scope, file_sha256=sha256, **header.validated_data)
        report.file.save("report.csv", ContentFile(data), save=False)
        try:
            with transaction.atomic():
                report.save()
        except IntegrityError:  # the same report id uploaded concurrently: answer as a replay below
            report.file.delete(save=False)
            existing = UsageReport.objects.get(**scope)
        else:
            enqueue_on_commit(usage_report_process_task, report.pk)
            return UsageReportUpload(report, replayed=False)
    if existing.file_sha256 != sha256:
        raise UsageReportConflict(
            f"Report id {parsed.report_ref!r} was already used for another file (usage report {existing.pk}).",
            fields={"report_id": ["Already used for another file."]},
        )
    return UsageReportUpload(existing, replayed=True)


def _usage_line_from_row(line_no: int, row: dict[str, str] | None) -> UsageLineIn | dict[str, Any]:
    """A checked line, or its rejection."""
    line_id = (row or {}).get("line_id", "")[:100]
    if row is None:
        return usage_rejection(
            line_no=line_no, line_id="", code="line_invalid", detail="The line has the wrong number of cells."
        )
    serializer = UsageLineInputSerializer(data=row)
    if not serializer.is_valid():
        detail = "; ".join(
            f"{name}: {' '.join(map(str, errors))}" for name, errors in serializer.errors.items()
        )
        return usage_rejection(line_no=line_no, line_id=line_id, code="line_invalid", detail=detail[:500])
    return UsageLineIn(line_no=line_no, **serializer.validated_data)


def _usage_report_lines_ingest(
    *, report: UsageReport, parsed: ParsedReport, header: UsageHeader
) -> tuple[UsageOutcome, int]:
    outcome = UsageOutcome()
    batch: list[UsageLineIn] = []
    line_count = 0

    def flush() -> None:
        if batch:
            part = usage_lines_ingest(partner=report.partner, label=report.label, header=header, lines=batch)
            outcome.accepted += part.accepted
            outcome.duplicates += part.duplicates
            outcome.rejected.extend(part.rejected)
            batch.clear()

    for line_no, row in usage_csv_lines(parsed):
        line_count += 1
        line = _usage_line_from_row(line_no, row)
        if isinstance(line, UsageLineIn):
            batch.append(line)
            if len(batch) >= MAX_USAGE_BATCH_LINES:
                flush()
        else:
            outcome.rejected.append(line)
    flush()
    outcome.rejected.sort(key=lambda r: r["line"])
    return outcome, line_count


@transaction.atomic
def usage_report_process(*, report: UsageReport) -> UsageReport:
    """Check and ingest a queued report's lines, record the outcome and tell the partner's webhooks.

    Claimed with an UPDATE on its status, so a task run twice processes it once; one transaction, so
    a crash leaves it queued with nothing written.
    """
    claimed = UsageReport.objects.filter(pk=report.pk, status=UsageReportStatus.QUEUED).update(
        status=UsageReportStatus.PROCESSING
    )
    if not claimed:
        return report
    report.refresh_from_db()
    with report.file.open("rb") as handle:
        data = handle.read()
    if usage_dsr.is_dsr(data):  # a DDEX DSR flat file, streamed into usage lines by royalties.dsr
        return _usage_report_processed(usage_dsr.dsr_report_process(report))
    parsed = usage_csv_parse_header(usage_csv_decode(data))
    header = UsageHeader(
        currency=report.currency, period_start=report.period_start, period_end=report.period_end
    )
    try:
        with transaction.atomic():  # a file that turns out unreadable half-way writes none of its lines
            outcome, line_count = _usage_report_lines_ingest(report=report, parsed=parsed, header=header)
    except UsageReportInvalid as exc:
        report.status = UsageReportStatus.FAILED
        report.error_code, report.error_message = exc.code, exc.message[:500]
    else:
        report.line_count = line_count
        report.accepted_count = outcome.accepted
        report.duplicate_count = outcome.duplicates
        report.rejected_count = len(outcome.rejected)
        report.rejected_lines = outcome.rejected[:MAX_LISTED_REJECTIONS]
        report.status = UsageReportStatus.PROCESSED
    return _usage_report_processed(report)


def _usage_report_processed(report: UsageReport) -> UsageReport:
    report.processed_at = timezone.now()
    report.save()
    webhook_event_emit(
        partner=report.partner,
        label=report.label,
        event_type=WebhookEvent.USAGE_REPORT_PROCESSED,
        data={"usage_report": UsageReportSerializer(report).data},
    )
    return report


# --------------------------------------------------------------------------------------- idempotency

IDEMPOTENCY_KEY_DAYS = 7


@transaction.atomic
def idempotency_records_prune(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=IDEMPOTENCY_KEY_DAYS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
