"""OpenAPI pieces drf-spectacular cannot derive from the views: the Bearer scheme, each operation's error
answers with their codes, response headers, the servers and the webhook payloads (OpenAPI 3.1
`webhooks`).

The schema is a product partners generate clients from (docs/api.md), so `.spectral.yaml` lints it and
tests/partner_api/test_generated_clients.py generates a Python and a TypeScript client from it.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    OpenApiWebhook,
    extend_schema,
)
from rest_framework import serializers

from config.errors import error_body
from partner_api.errors import API_ERROR_CODES
from partner_api.models import WebhookEvent
from partner_api.serializers import (
    AttributionSerializer,
    ClipSerializer,
    ErrorSerializer,
    UnlicensedUseSerializer,
    UsageReportSerializer,
)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "partner_api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer stm_...`"}


# ------------------------------------------------------------------------------------ error answers

# Codes any operation can answer: a key problem, an Accept it cannot satisfy, the rate limit.
COMMON_ERROR_CODES = ("not_authenticated", "authentication_failed", "not_acceptable", "throttled")
_EXAMPLE_FIELDS = {
    "invalid": {"external_id": ["This field is required."]},
    "invalid_cursor": {"cursor": ["Invalid cursor."]},
    "invalid_limit": {"limit": ["0"]},
    "invalid_period": {"period": ["Want YYYY-MM, e.g. 2026-10."]},
    "webhook_url_invalid": {"url": ["ftp://hooks.example.org/stemma"]},
    "usage_report_invalid": {"line": [1]},
    "usage_report_conflict": {"report_id": ["Already used for another file."]},
}


def error_responses(*codes: str) -> dict[int, OpenApiResponse]:
    """The error answers of one operation, for extend_schema(responses=...): one response per HTTP
    status, in the error envelope, its description listing the codes the operation can answer with
    that status (plus COMMON_ERROR_CODES), and one example per code."""
    by_status: dict[int, list[str]] = {}
    for code in API_ERROR_CODES:  # the registry's order, so the schema is stable
        if code in codes or code in COMMON_ERROR_CODES:
            by_status.setdefault(API_ERROR_CODES[code].status, []).append(code)
    unknown = set(codes) - set(API_ERROR_CODES)
    if unknown:
        raise ValueError(f"error codes not in partner_api.errors.API_ERROR_CODES: {sorted(unknown)}")
    return {
        status: OpenApiResponse(
            ErrorSerializer,
            description="\n".join(f"- `{code}`: {API_ERROR_CODES[code].when}" for code in status_codes),
            examples=[
                OpenApiExample(
                    code,
                    value=error_body(code, API_ERROR_CODES[code].when, _EXAMPLE_FIELDS.get(code)),
                    status_codes=[status],
                    response_only=True,
                )
                for code in status_codes
            ],
        )
        for status, status_codes in sorted(by_status.items())
    }


# ------------------------------------------------------------------------------------------ webhooks


class ClipEventDataSerializer(serializers.Serializer):
    clip = ClipSerializer()
    attribution = AttributionSerializer(allow_null=True, help_text="null for `clip.rejected`.")


class UnlicensedUseEventDataSerializer(ClipEventDataSerializer):
    unlicensed_uses = UnlicensedUseSerializer(many=True)


class UsageReportEventDataSerializer(serializers.Serializer):
    usage_report = UsageReportSerializer()


def _event_serializer(name: str, event_type: str, data: serializers.Serializer) -> type:
    """The envelope of one event type: `{"id", "type", "created", "data"}` as partner_api.services
    .webhooks.webhook_event_emit writes it."""
    fields = {
        "id": serializers.CharField(
            help_text="`evt_...`: the same on every retry of the event, and in the `webhook-id` header."
        ),
        "type": serializers.ChoiceField(choices=[(event_type, event_type)]),
        "created": serializers.DateTimeField(help_text="When the event happened."),
        "data": data,
        "__doc__": f"The body of a `{event_type}` delivery.",
    }
    return type(name, (serializers.Serializer,), fields)


ClipAttributedEvent = _event_serializer(
    "ClipAttributedEvent", WebhookEvent.CLIP_ATTRIBUTED, ClipEventDataSerializer()
)
ClipRejectedEvent = _event_serializer(
    "ClipRejectedEvent", WebhookEvent.CLIP_REJECTED, ClipEventDataSerializer()
)
AttributionRevisedEvent = _event_serializer(
    "AttributionRevisedEvent", WebhookEvent.ATTRIBUTION_REVISED, ClipEventDataSerializer()
)
AttributionUnlicensedUseEvent = _event_serializer(
    "AttributionUnlicensedUseEvent",
    WebhookEvent.ATTRIBUTION_UNLICENSED_USE,
    UnlicensedUseEventDataSerializer(),
)
UsageReportProcessedEvent = _event_serializer(
    "UsageReportProcessedEvent", WebhookEvent.USAGE_REPORT_PROCESSED, UsageReportEventDataSerializer()
)

WEBHOOK_HEADERS = [
    OpenApiParameter(
        "webhook-id",
        {"type": "string", "pattern": "^evt_[0-9a-f]{32}$"},
        OpenApiParameter.HEADER,
        required=True,
        description="The event id, the same on every retry of the event: ignore one you have seen.",
    ),
    OpenApiParameter(
        "webhook-timestamp",
        {"type": "string", "pattern": "^[0-9]+$"},
        OpenApiParameter.HEADER,
        required=True,
        description="Unix seconds of this attempt; reject one more than 5 minutes from your clock.",
    ),
    OpenApiParameter(
        "webhook-signature",
        {"type": "string", "pattern": "^v1,[A-Za-z0-9+/=]+$"},
        OpenApiParameter.HEADER,
        required=True,
        description=(
            "`v1,<base64 HMAC-SHA256>` over `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed with the "
            "base64-decoded part of your secret after `whsec_` (Standard Webhooks)."
        ),
    ),
    OpenApiParameter(
        "Stemma-Event-Type",
        {"type": "string", "enum": list(WebhookEvent.values)},
        OpenApiParameter.HEADER,
        required=True,
        description="The event type, for routing before parsing.",
    ),
]
_DELIVERY_RESPONSES = {
    "2XX": OpenApiResponse(description="Received: answer any 2xx within 10 s (the body is ignored)."),
    "default": OpenApiResponse(
        description="Anything but a 2xx, or no answer in 10 s: retried with exponential backoff (30 s, "
        "1 min, 2 min, ...; 8 attempts over about an hour), every attempt in the delivery log."
    ),
}
_WEBHOOK_EVENTS = [
    (
        WebhookEvent.CLIP_ATTRIBUTED,
        ClipAttributedEvent,
        "A clip was attributed",
        "The clip's first attribution is ready.",
    ),
    (
        WebhookEvent.CLIP_REJECTED,
        ClipRejectedEvent,
        "A clip was rejected",
        "Processing refused the clip; `clip.reject` says why.",
    ),
    (
        WebhookEvent.ATTRIBUTION_REVISED,
        AttributionRevisedEvent,
        "An attribution was revised",
        "A review or re-attribution made a new attribution version of the clip.",
    ),
    (
        WebhookEvent.ATTRIBUTION_UNLICENSED_USE,
        AttributionUnlicensedUseEvent,
        "An attribution drew on a recording outside the licence",
        "A share (a training use) or a declared reference (a conditioning use) falls on a recording whose "
        "artists opted out of that use on the clip's date, or that no deal licenses to you: its money is held "
        "and the clip is in the label's review.",
    ),
    (
        WebhookEvent.USAGE_REPORT_PROCESSED,
        UsageReportProcessedEvent,
        "A usage report was processed",
        "An uploaded report was processed (or failed as a whole); its counts and rejected lines.",
    ),
]


def _webhook(event_type: str, serializer: type, summary: str, description: str) -> OpenApiWebhook:
    return OpenApiWebhook(
        name=str(event_type),
        decorator=extend_schema(
            summary=summary,
            description=f"{description} Sent to endpoints subscribed to this event type, signed per "
            "Standard Webhooks (the `webhook-*` headers).",
            request={"application/json": serializer},
            responses=_DELIVERY_RESPONSES,
        ),
    )


# Listed one by one in SPECTACULAR_SETTINGS["WEBHOOKS"] (import strings).
(
    WEBHOOK_CLIP_ATTRIBUTED,
    WEBHOOK_CLIP_REJECTED,
    WEBHOOK_ATTRIBUTION_REVISED,
    WEBHOOK_ATTRIBUTION_UNLICENSED_USE,
    WEBHOOK_USAGE_REPORT_PROCESSED,
) = (_webhook(*event) for event in _WEBHOOK_EVENTS)


# ------------------------------------------------------------------------------- response headers

_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id (yours if you sent a sane `X-Request-ID`); quote it when asking "
        "for help.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before the next request.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this answer repeats the first answer to the same request.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Location": {"description": "The path of the resource.", "schema": {"type": "string"}},
}
# Operations whose successful answer may be a replay of an earlier one, and those that answer a Location.
_REPLAYABLE = {"clips_submit", "usage_report_batch", "usage_reports_create"}
_LOCATED = {"clips_submit", "usage_reports_create", "webhooks_create"}


def _header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def postprocess(result: dict, generator, request, public) -> dict:
    """drf-spectacular POSTPROCESSING_HOOKS: response headers, webhook headers, servers, contact."""
    result.setdefault("components", {})["headers"] = _HEADERS
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                headers = {"X-Request-ID": _header("X-Request-ID")}
                if status == "429":
                    headers["Retry-After"] = _header("Retry-After")
                if status.startswith("2") and operation["operationId"] in _REPLAYABLE:
                    headers["Idempotent-Replayed"] = _header("Idempotent-Replayed")
                if status.startswith("2") and operation["operationId"] in _LOCATED:
                    headers["Location"] = _header("Location")
                response["headers"] = headers
    for name, item in result.get("webhooks", {}).items():
        operation = item["post"]
        operation["operationId"] = "webhook_" + name.replace(".", "_")
        operation["tags"] = ["webhooks"]
        operation["security"] = []  # signed, not authenticated with an API key
        operation["parameters"] = [
            {
                "name": parameter.name,
                "in": "header",
                "required": True,
                "description": parameter.description,
                "schema": parameter.type,
            }
            for parameter in WEBHOOK_HEADERS
        ]
    if request is not None:
        root = request.build_absolute_uri("/").rstrip("/")
        result["servers"] = [{"url": root, "description": "This Stemma instance."}]
        result["info"]["contact"] = {**result["info"].get("contact", {}), "url": f"{root}/api/docs/"}
    return result
