"""Errors of the partner API. Each `code` is stable and listed in docs/api.md."""

from rest_framework import status

from config.errors import Conflict, InvalidInput, NotFound, StemmaError


class PayloadTooLarge(StemmaError):
    code = "payload_too_large"
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class IdempotencyKeyInvalid(InvalidInput):
    code = "idempotency_key_invalid"


class ExternalIdConflict(Conflict):
    code = "external_id_conflict"


class AttributionNotReady(NotFound):
    code = "attribution_not_ready"


class UsageBatchTooLarge(PayloadTooLarge):
    code = "usage_batch_too_large"


class UsageReportInvalid(InvalidInput):
    """The CSV file as a whole cannot be taken: not UTF-8 text, or a bad header. Nothing is written."""

    code = "usage_report_invalid"


class UsageReportConflict(Conflict):
    """The report id was already used for a different file."""

    code = "usage_report_conflict"


class WebhookUrlInvalid(InvalidInput):
    code = "webhook_url_invalid"


class ApiKeyCreateError(InvalidInput):
    code = "api_key_invalid"
