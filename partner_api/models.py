"""API keys, idempotency records, usage reports and webhooks for partner platforms.

Invariants:
- An `ApiKey` acts for one partner within one label (the label that licensed the partner and whose admin
  created the key). Everything the key reads or writes is scoped to that (partner, label) pair; anything
  else answers 404. Only the SHA-256 of the key is stored; the key itself is shown once, at creation.
- An `IdempotencyRecord` is unique per (partner, key): the first request's answer is stored and replayed;
  a second request with the same key and another body is a conflict, never a second write.
- A `WebhookDelivery` is claimed before each attempt (`attempts` incremented, `next_attempt_at` moved
  forward as a lease), so a task run twice never sends one attempt twice at the same moment.
- A `WebhookEndpoint`'s signing secret is only ever stored encrypted (`secret_encrypted`).
- A `WebhookEndpoint` belongs to a partner within a label (registered over the API), or, without a
  partner, to the label itself (registered by the label's admins on the Webhooks page): label endpoints
  receive only `LABEL_EVENTS`, and the partner API never lists or serves them (its reads filter on the
  key's partner).
"""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from catalog.models import Label, Partner
from config.encryption import secret_decrypt, secret_encrypt

KEY_TOKEN_PREFIX = "stm_"  # noqa: S105 (a public marker, not a secret)


def api_key_hash(raw_key: str) -> str:
    # Keys are 190+ bits of randomness, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="api_keys")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=20, unique=True)  # shown in lists and logs: "stm_3f9a1c2e"
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix} ({self.partner} @ {self.label})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate() -> tuple[str, str]:
        """A new (prefix, raw key); the raw key is `<prefix>_<secret>`."""
        prefix = KEY_TOKEN_PREFIX + secrets.token_hex(4)
        return prefix, f"{prefix}_{secrets.token_urlsafe(24)}"


class IdempotencyRecord(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="idempotency_unique_key_per_partner")
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.key}"


class UsageReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"


def usage_report_path(instance: "UsageReport", filename: str) -> str:
    return f"usage_reports/{instance.partner_id}/{timezone.now():%Y/%m}/{secrets.token_hex(8)}.csv"


class UsageReport(models.Model):
    """A CSV usage report (layout in docs/api.md); the header is checked on upload, the lines later."""

    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="usage_reports")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="usage_reports")
    report_ref = models.CharField(max_length=100)  # the partner's own report id, from the header
    file_sha256 = models.CharField(max_length=64, blank=True)  # tells a re-upload from a different file
    period_start = models.DateField()
    period_end = models.DateField()
    currency = models.CharField(max_length=3)
    file = models.FileField(upload_to=usage_report_path, max_length=300)
    status = models.CharField(
        max_length=20, choices=UsageReportStatus.choices, default=UsageReportStatus.QUEUED
    )
    line_count = models.PositiveIntegerField(default=0)
    accepted_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    rejected_lines = models.JSONField(
        default=list, blank=True
    )  # [{"line": 7, "line_id": .., "code", "reason"}]
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "label", "created_at"])]
        constraints = [
            # A report id names one report: a re-upload is answered with it, never processed twice.
            models.UniqueConstraint(
                fields=["partner", "label", "report_ref"], name="usage_report_ref_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"usage report {self.report_ref} ({self.partner_id})"


class WebhookEvent(models.TextChoices):
    CLIP_ATTRIBUTED = "clip.attributed", "Clip attributed"
    CLIP_REJECTED = "clip.rejected", "Clip rejected"
    ATTRIBUTION_REVISED = "attribution.revised", "Attribution revised"
    USAGE_REPORT_PROCESSED = "usage_report.processed", "Usage report processed"
    ATTRIBUTION_UNLICENSED_USE = "attribution.unlicensed_use", "Attribution outside the licence"


# Events a label's own endpoints can subscribe to: what the label must act on, about every partner's clips.
LABEL_EVENTS = (WebhookEvent.ATTRIBUTION_UNLICENSED_USE,)


class WebhookEndpoint(models.Model):
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="webhook_endpoints")
    # None: the label's own endpoint (LABEL_EVENTS about all its partners' clips), not a partner's.
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    # The signing key must be readable to sign, so it cannot be hashed: it is encrypted instead, with
    # FIELD_ENCRYPTION_KEYS (config.encryption). Read and write it through `secret`.
    secret_encrypted = models.TextField()
    event_types = models.JSONField(default=list)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return self.is_active and event_type in self.event_types

    @property
    def is_label_endpoint(self) -> bool:
        return self.partner_id is None

    @property
    def secret(self) -> str:
        return secret_decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = secret_encrypt(value)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up)"


class WebhookDelivery(models.Model):
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=40)
    event_type = models.CharField(max_length=50, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once_per_event")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"
