"""Functions that change partner API state, one module per concern; each runs in one transaction.

- `keys`: API keys (create, revoke, record use)
- `clips`: clip submission on top of fingerprinting
- `webhooks`: endpoints (partners' and labels' own) and signed deliveries (Standard Webhooks)
- `usage`: JSON usage batches and usage report files (`usage_report_read` parses every format)
- `idempotency`: `Idempotency-Key` records

The names below are the package's public surface, so callers write `from partner_api.services import X`.
"""

from partner_api.services.clips import ClipMetadata, partner_clip_submit
from partner_api.services.idempotency import (
    IDEMPOTENCY_KEY_DAYS,
    Answer,
    idempotency_key_clean,
    idempotency_records_prune,
    idempotent_answer,
    request_fingerprint,
)
from partner_api.services.keys import CreatedApiKey, apikey_create, apikey_revoke, apikey_touch
from partner_api.services.usage import (
    MAX_LISTED_REJECTIONS,
    MAX_USAGE_BATCH_LINES,
    USAGE_REASONS,
    UsageHeader,
    UsageLineIn,
    UsageOutcome,
    UsageReportContent,
    UsageReportUpload,
    usage_lines_ingest,
    usage_rejection,
    usage_report_create,
    usage_report_process,
    usage_report_read,
)
from partner_api.services.webhooks import (
    BACKOFF_BASE_SECONDS,
    MAX_DELIVERY_ATTEMPTS,
    AttemptOutcome,
    label_webhook_endpoint_create,
    label_webhook_endpoint_delete,
    label_webhook_endpoint_set_active,
    webhook_backoff,
    webhook_delivery_attempt,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_event_emit,
    webhook_secret_generate,
    webhook_signature_headers,
    webhook_url_check,
)

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "IDEMPOTENCY_KEY_DAYS",
    "MAX_DELIVERY_ATTEMPTS",
    "MAX_LISTED_REJECTIONS",
    "MAX_USAGE_BATCH_LINES",
    "USAGE_REASONS",
    "Answer",
    "AttemptOutcome",
    "ClipMetadata",
    "CreatedApiKey",
    "UsageHeader",
    "UsageLineIn",
    "UsageOutcome",
    "UsageReportContent",
    "UsageReportUpload",
    "apikey_create",
    "apikey_revoke",
    "apikey_touch",
    "idempotency_key_clean",
    "idempotency_records_prune",
    "idempotent_answer",
    "partner_clip_submit",
    "request_fingerprint",
    "usage_lines_ingest",
    "usage_rejection",
    "usage_report_create",
    "usage_report_process",
    "usage_report_read",
    "label_webhook_endpoint_create",
    "label_webhook_endpoint_delete",
    "label_webhook_endpoint_set_active",
    "webhook_backoff",
    "webhook_delivery_attempt",
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_endpoint_update",
    "webhook_event_emit",
    "webhook_secret_generate",
    "webhook_signature_headers",
    "webhook_url_check",
]
