"""`Idempotency-Key`: the first successful answer to a key is stored and replayed.

The record is inserted at the start of the request's transaction. A concurrent request with the same
key blocks on the unique index until the first one commits (PostgreSQL), then fails to insert and
replays the stored answer; so two identical requests racing write once. Errors are not stored: the
transaction rolls back with the record, and a retry of a failed request runs again.
"""

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Label, Partner
from partner_api.errors import IdempotencyConflict, IdempotencyKeyInvalid
from partner_api.models import IdempotencyRecord

MAX_KEY_LENGTH = 255
IDEMPOTENCY_KEY_DAYS = 7  # how long a key is honoured (docs/api.md)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def request_fingerprint(*, method: str, path: str, label: Label, payload: Mapping[str, Any]) -> str:
    """A digest of what a request asks for; `payload` must be JSON-able (files given by their digest)."""
    canonical = json.dumps(
        {"method": method, "path": path, "label": label.pk, "payload": payload},
        sort_keys=True,
        default=str,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key_clean(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_KEY_LENGTH or not raw.isprintable() or not raw.isascii():
        raise IdempotencyKeyInvalid(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            fields={"Idempotency-Key": ["Invalid value."]},
        )
    return raw


@transaction.atomic
def idempotent_answer(
    *,
    partner: Partner,
    label: Label,
    key: str | None,
    fingerprint: str,
    produce: Callable[[], tuple[int, dict[str, Any]]],
) -> Answer:
    """`produce()` once per (partner, key); later calls with the same key get its first answer."""
    if key is None:
        status, body = produce()
        return Answer(status, body)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                partner=partner,
                label=label,
                key=key,
                request_hash=fingerprint,
                response_status=0,
                response_body={},
            )
    except IntegrityError:
        record = IdempotencyRecord.objects.get(partner=partner, key=key)
        if record.request_hash != fingerprint:
            raise IdempotencyConflict(
                "This Idempotency-Key was already used with a different request.",
                fields={"Idempotency-Key": [key]},
            )
        return Answer(record.response_status, record.response_body, replayed=True)
    status, body = produce()
    record.response_status = status
    record.response_body = body
    record.save(update_fields=["response_status", "response_body"])
    return Answer(status, body)


@transaction.atomic
def idempotency_records_prune(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=IDEMPOTENCY_KEY_DAYS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
