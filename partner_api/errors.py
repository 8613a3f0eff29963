"""Errors of the partner API. Each `code` is stable and listed in docs/api.md."""

from typing import NamedTuple

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


class WebhookEventsInvalid(InvalidInput):
    """A label's own endpoint names no event, or an event that is not a label's (LABEL_EVENTS)."""

    code = "webhook_events_invalid"


class ApiCode(NamedTuple):
    status: int
    when: str


# Every `error.code` the partner API answers, with its HTTP status: the one list that the schema's
# per-operation error answers, docs/api.md's table and tests/partner_api/test_error_codes.py (which
# makes the API answer each one, and checks that the code raises no other) are held to.
API_ERROR_CODES: dict[str, ApiCode] = {
    "invalid": ApiCode(400, "A field is missing or wrong; `fields` says which."),
    "parse_error": ApiCode(
        400,
        "The body is not valid JSON (`NaN` included) or multipart, or holds NUL, an unpaired surrogate, "
        "or nesting over 32 levels.",
    ),
    "invalid_cursor": ApiCode(400, "A bad or empty `cursor` on a list."),
    "invalid_limit": ApiCode(400, "A `limit` outside 1-200 on a list."),
    "invalid_period": ApiCode(400, "A bad `period` on `GET /settlements` (want `YYYY-MM`)."),
    "idempotency_key_invalid": ApiCode(
        400, "The `Idempotency-Key` header is too long or not printable ASCII."
    ),
    "usage_report_invalid": ApiCode(
        400, "The report file is not UTF-8 text, not valid CSV, or its first two lines (DSR: HEAD) are wrong."
    ),
    "webhook_url_invalid": ApiCode(
        400,
        "The webhook URL is not http(s), has a port outside 1-65535, or (in production) is not a public host.",
    ),
    "not_authenticated": ApiCode(401, "No `Authorization: Bearer` header."),
    "authentication_failed": ApiCode(401, "Unknown or revoked key."),
    "download_link_invalid": ApiCode(
        403, "A training download link we did not issue, or for another manifest."
    ),
    "not_found": ApiCode(404, "No such object for this key (or no such path)."),
    "attribution_not_ready": ApiCode(404, "The clip has no attribution yet."),
    "method_not_allowed": ApiCode(405, "Wrong method for the path."),
    "not_acceptable": ApiCode(406, "The `Accept` header asks for a type the API cannot answer (use JSON)."),
    "idempotency_conflict": ApiCode(409, "The `Idempotency-Key` was used with a different request."),
    "external_id_conflict": ApiCode(409, "The `external_id` is taken by a different clip of yours."),
    "usage_report_conflict": ApiCode(409, "The report id was used before for a different file."),
    "download_link_expired": ApiCode(
        410, "The training download link is past its expiry; get the manifest again."
    ),
    "recording_withdrawn": ApiCode(
        410, "The recording left your training licence (opt-out, deal ended, takedown) since that manifest."
    ),
    "payload_too_large": ApiCode(413, "The request body or the report file is over its limit."),
    "audio_too_large": ApiCode(413, "The audio file is over `MAX_AUDIO_UPLOAD_BYTES`."),
    "usage_batch_too_large": ApiCode(413, "Over 10,000 lines in one `POST /usage`."),
    "unsupported_media_type": ApiCode(415, "Wrong `Content-Type` (JSON to `/clips`, multipart to `/usage`)."),
    "unsupported_audio": ApiCode(
        415, "The file is not audio in a supported format (sniffed from its bytes)."
    ),
    "undecodable_audio": ApiCode(422, "Audio that is truncated or corrupt."),
    "throttled": ApiCode(429, "Over the rate limit; see `Retry-After`."),
}

# Codes of this project's errors that the partner API never answers, and why (the check that the code
# raises nothing undocumented skips them).
NOT_API_ERROR_CODES = {
    "api_key_invalid": "raised by `manage.py apikey_create` and the Partners page, not by /api/v1/",
    "webhook_events_invalid": "raised by the label's Webhooks page (label endpoints), not by /api/v1/",
    "permission_denied": "a key may do everything within its (partner, label); no key is a 401",
    "error": "the base class's placeholder; every raised error has its own code",
    "conflict": "the base class's placeholder",
}
