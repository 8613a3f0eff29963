"""Partner REST API views: parse, call one service or selector, shape the answer.

Where one URL carries two operations (GET and POST /clips), one class holds both methods, each with
its own serializers and schema: Django routes by path, and drf-spectacular documents per method.
List endpoints use `ListAPIView` so that drf-spectacular derives the cursor pagination and the filter
parameters from the same classes that run, which keeps the schema accurate.
"""

import hashlib

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import FileResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.consent import consent_resolve
from catalog.identifiers import normalize_isrc
from catalog.models import ConsentUse, Recording
from config.errors import InvalidInput, NotFound, error_body
from config.input_checks import UntrustedInputError, json_loads_checked, text_problem
from fingerprinting.errors import AudioTooLarge
from fingerprinting.models import Clip
from partner_api import selectors, services
from partner_api.authentication import ApiKeyAuthentication
from partner_api.errors import PayloadTooLarge, UsageBatchTooLarge
from partner_api.filters import ClipFilter
from partner_api.models import ApiKey, WebhookDelivery, WebhookEndpoint, WebhookEvent
from partner_api.pagination import CreatedCursorPagination
from partner_api.parsers import StrictJSONParser
from partner_api.schema import error_responses
from partner_api.serializers import (
    AttributionSerializer,
    ClipSerializer,
    RecordingConsentSerializer,
    RejectedLineSerializer,
    SettlementSerializer,
    TrainingManifestSerializer,
    UsageHeaderSerializer,
    UsageLineInputSerializer,
    UsageReportSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointSerializer,
)
from partner_api.services import MAX_USAGE_BATCH_LINES
from partner_api.services.idempotency import idempotency_key_clean, idempotent_answer, request_fingerprint
from partner_api.throttles import PartnerThrottle
from royalties.errors import InvalidPeriod
from royalties.manifest import (
    download_expires_at,
    download_url,
    manifest_removals,
    training_download_open,
    training_manifest_issue,
)
from royalties.models import PartnerSettlement, TrainingManifest
from royalties.selectors import partner_licensed, settlement_for_partner

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Makes a retry safe: the same key with the same request answers the first answer again "
        "(`Idempotent-Replayed: true`); with a different request it is 409 `idempotency_conflict`. "
        "Unique per partner, remembered for 7 days."
    ),
)
MAX_EXTRA_BYTES = 16 * 1024
BODY_ERRORS = ("invalid", "parse_error", "payload_too_large", "unsupported_media_type")


def _path_id(name: str, what: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH, description=f"The {what}'s id.")


CLIP_ID = _path_id("clip_id", "clip")
ENDPOINT_ID = _path_id("endpoint_id", "webhook endpoint")
REPORT_ID = _path_id("report_id", "usage report")
# What an absent optional field of POST /clips means (the idempotency fingerprint includes these, as
# it did when they were serializer defaults, so a retry across an upgrade still matches).
CLIP_FIELD_DEFAULTS = {
    "title": "",
    "model_name": "",
    "model_version": "",
    "generated_at": None,
    "declared_references": [],
    "extra": {},
    "voice_model": None,
}


# Every partner operation: Bearer key auth, per-key throttles and body size limits. (A comment, not a
# docstring: drf-spectacular would publish a class docstring as the description of every operation.)
class PartnerApiMixin:
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [PartnerThrottle]

    def max_body_bytes(self) -> int:
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        limit = self.max_body_bytes()
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")

    def handle_exception(self, exc):
        if isinstance(exc, RequestDataTooBig):
            exc = PayloadTooLarge("The request body is too large.")
        elif isinstance(exc, TooManyFieldsSent):
            exc = InvalidInput("The request has too many fields.")
        return super().handle_exception(exc)

    @property
    def api_key(self) -> ApiKey:
        return self.request.auth

    @property
    def scope(self) -> dict:
        """The (partner, label) every read and write of this request is confined to."""
        return {"partner": self.request.auth.partner, "label": self.request.auth.label}


class PartnerAPIView(PartnerApiMixin, APIView):
    pass


@csrf_exempt  # no session is involved, and the answer is a 404 whatever the method
def unknown_path(request, *args, **kwargs) -> JsonResponse:
    return JsonResponse(error_body("not_found", f"No API resource at {request.path}."), status=404)


def _file_sha256(upload) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


@extend_schema_field({"type": "object", "additionalProperties": True})
class JsonObjectTextField(serializers.Field):
    """A JSON object sent as one multipart part (`Content-Type: application/json`, or plain text as
    curl's `-F extra='{...}'` sends it): OpenAPI's own serialization of an object in a multipart body,
    so generated clients send a dict as it is."""

    default_error_messages = {"invalid": "extra must be a JSON object, as text."}

    def to_internal_value(self, data) -> dict:
        if not isinstance(data, str):
            self.fail("invalid")
        if len(data.encode(errors="replace")) > MAX_EXTRA_BYTES:
            raise serializers.ValidationError(f"extra is larger than {MAX_EXTRA_BYTES} bytes.")
        if not data.strip():
            return {}
        try:
            value = json_loads_checked(data)
        except UntrustedInputError as exc:
            raise serializers.ValidationError(f"extra is not storable JSON: {exc}")
        if not isinstance(value, dict):
            raise serializers.ValidationError("extra must be a JSON object.")
        return value

    def to_representation(self, value) -> dict:
        return value


# --------------------------------------------------------------------------------------------- clips


class ClipCollectionApi(PartnerApiMixin, generics.ListAPIView):
    serializer_class = ClipSerializer
    pagination_class = CreatedCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = ClipFilter
    parser_classes = [MultiPartParser]

    def max_body_bytes(self) -> int:
        return settings.MAX_AUDIO_UPLOAD_BYTES + 256 * 1024  # the file plus its metadata fields

    # Optional fields have no `default`: a default is published in the schema, generated clients then
    # send it (or type the field as required), and a multipart form cannot say null. The view fills in
    # what is absent (ClipMetadata's defaults).
    class ClipSubmitSerializer(serializers.Serializer):
        audio = serializers.FileField(
            allow_empty_file=False,
            help_text="The clip: WAV, FLAC, OGG/Opus, MP3, AIFF, MP4 or WebM, told by its bytes.",
        )
        external_id = serializers.CharField(max_length=200, help_text="Your id of the clip.")
        title = serializers.CharField(max_length=300, required=False, allow_blank=True)
        model_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
        model_version = serializers.CharField(max_length=100, required=False, allow_blank=True)
        generated_at = serializers.DateTimeField(required=False, help_text="ISO 8601.")
        declared_references = serializers.ListField(
            child=serializers.CharField(max_length=20),
            required=False,
            max_length=100,
            help_text="ISRCs the generation was conditioned on: one form part per ISRC.",
        )
        extra = JsonObjectTextField(
            required=False, help_text="Any JSON object (at most 16 KiB), e.g. the prompt; kept as sent."
        )
        voice_model = serializers.IntegerField(
            required=False,
            min_value=1,
            help_text="The id of the licensed voice model that sang this clip, as the label registered it "
            "for you: its artist is paid under the model's licence terms (a share of the clip's pool, or a "
            "flat rate per use you report). Leave it out when no voice model was used.",
        )

        def validate_declared_references(self, values: list[str]) -> list[str]:
            try:
                return [normalize_isrc(value) for value in values]
            except Exception as exc:  # django ValidationError with the ISRC's problem
                raise serializers.ValidationError(getattr(exc, "messages", [str(exc)]))

        def validate(self, attrs):
            for name in ("external_id", "title", "model_name", "model_version"):
                problem = text_problem(attrs.get(name, ""))
                if problem:
                    raise serializers.ValidationError({name: [problem]})
            return attrs

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no key
            return Clip.objects.none()
        return selectors.clip_queryset(**self.scope)

    @extend_schema(
        operation_id="clips_list",
        summary="List clips",
        description="Your clips in this label, newest first, optionally filtered.",
        parameters=[
            OpenApiParameter(
                "external_id",
                {"type": "string", "minLength": 1, "maxLength": 200},
                OpenApiParameter.QUERY,
                description="Only the clip with this external id.",
            )
        ],
        responses={
            200: ClipSerializer(many=True),
            **error_responses("invalid", "invalid_cursor", "invalid_limit"),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="clips_submit",
        summary="Submit a clip",
        description=(
            "Stores the clip and queues its attribution: `202` with the clip (`status: queued`). Poll "
            "`GET /clips/{clip_id}` or subscribe to the `clip.attributed` and `clip.rejected` webhooks. "
            "The same file and metadata again under the same `external_id` answers the stored clip with "
            "`200`. A clip too short, too long or silent is accepted and then rejected by processing "
            "(`reject.code`)."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=OpenApiRequest(
            ClipSubmitSerializer, encoding={"extra": {"contentType": "application/json, text/plain"}}
        ),
        responses={
            202: OpenApiResponse(ClipSerializer, description="Stored and queued for attribution."),
            200: OpenApiResponse(
                ClipSerializer, description="This clip was submitted before: the stored clip."
            ),
            **error_responses(
                "invalid",
                "parse_error",
                "idempotency_key_invalid",
                "idempotency_conflict",
                "external_id_conflict",
                "payload_too_large",
                "audio_too_large",
                "unsupported_media_type",
                "unsupported_audio",
                "undecodable_audio",
            ),
        },
    )
    def post(self, request, *args, **kwargs):
        key = idempotency_key_clean(request.headers.get("Idempotency-Key"))
        serializer = self.ClipSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        audio = data.pop("audio")
        if audio.size > settings.MAX_AUDIO_UPLOAD_BYTES:
            raise AudioTooLarge(f"The audio file is larger than {settings.MAX_AUDIO_UPLOAD_BYTES} bytes.")
        audio_sha256 = _file_sha256(audio)
        fields = {**CLIP_FIELD_DEFAULTS, **data}
        metadata = services.ClipMetadata(
            **{**fields, "declared_references": tuple(fields["declared_references"])}
        )
        fingerprint = request_fingerprint(
            method="POST",
            path=request.path,
            label=self.api_key.label,
            # Without a voice model the fingerprint is the one clients computed before voice models existed,
            # so a retry across the upgrade still matches its first answer.
            payload={
                **{k: v for k, v in fields.items() if not (k == "voice_model" and v is None)},
                "audio_sha256": audio_sha256,
            },
        )

        def submit() -> tuple[int, dict]:
            clip, created = services.partner_clip_submit(
                **self.scope, audio=audio, audio_sha256=audio_sha256, metadata=metadata
            )
            return (status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK), ClipSerializer(clip).data

        answer = idempotent_answer(**self.scope, key=key, fingerprint=fingerprint, produce=submit)
        headers = {"Location": answer.body["links"]["self"]}
        if answer.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(answer.body, status=answer.status, headers=headers)


class ClipDetailApi(PartnerAPIView):
    @extend_schema(
        operation_id="clips_retrieve",
        parameters=[CLIP_ID],
        summary="Get a clip",
        description="The clip with its status; `reject` says why processing refused it.",
        responses={200: ClipSerializer, **error_responses("not_found")},
    )
    def get(self, request, clip_id: int):
        clip = selectors.clip_get(**self.scope, clip_id=clip_id)
        return Response(ClipSerializer(clip).data)


class ClipAttributionApi(PartnerAPIView):
    @extend_schema(
        operation_id="clips_attribution_current",
        parameters=[CLIP_ID],
        summary="Get a clip's attribution",
        description=(
            "The current attribution: ranked shares per catalog recording (ISRC), the unattributed "
            "remainder (shares and remainder sum to exactly 1), evidence, and the engine and index "
            "versions. `404 attribution_not_ready` until the clip is attributed."
        ),
        responses={200: AttributionSerializer, **error_responses("not_found", "attribution_not_ready")},
    )
    def get(self, request, clip_id: int):
        attribution = selectors.attribution_current(**self.scope, clip_id=clip_id)
        return Response(AttributionSerializer(attribution).data)


class ClipAttributionListApi(PartnerAPIView):
    @extend_schema(
        operation_id="clips_attributions_list",
        parameters=[CLIP_ID],
        summary="List a clip's attribution versions",
        description=(
            "Every attribution version of the clip, newest first: a review or a re-attribution makes a "
            "new version and never changes an old one."
        ),
        responses={200: AttributionSerializer(many=True), **error_responses("not_found")},
    )
    def get(self, request, clip_id: int):
        attributions = selectors.attribution_list(**self.scope, clip_id=clip_id)
        return Response(AttributionSerializer(attributions, many=True).data)


# ------------------------------------------------------------------------------------------ webhooks


class _EndpointFields(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text="Where deliveries are POSTed (http or https).")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices),
        allow_empty=False,
        min_length=1,
        max_length=10,
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text=(
            "The signing secret, shown only in this answer: `whsec_` followed by the standard base64 of "
            "32 random bytes. Verifiers of the Standard Webhooks specification take it as it is."
        )
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointCollectionApi(PartnerApiMixin, generics.ListAPIView):
    serializer_class = WebhookEndpointSerializer
    pagination_class = CreatedCursorPagination
    parser_classes = [StrictJSONParser]

    class WebhookCreateSerializer(_EndpointFields):
        pass

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return selectors.webhook_endpoint_list(**self.scope)

    @extend_schema(
        operation_id="webhooks_list",
        summary="List webhook endpoints",
        description="Your webhook endpoints in this label, newest first (without their secrets).",
        responses={
            200: WebhookEndpointSerializer(many=True),
            **error_responses("invalid_cursor", "invalid_limit"),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="webhooks_create",
        summary="Register a webhook endpoint",
        description=(
            "Registers a URL for the given event types and answers its signing `secret`, once: store "
            "it. Deliveries are signed per Standard Webhooks (the `webhooks` section of this document)."
        ),
        request=WebhookCreateSerializer,
        responses={
            201: OpenApiResponse(WebhookEndpointCreatedSerializer, description="Registered."),
            **error_responses(*BODY_ERRORS, "webhook_url_invalid"),
        },
    )
    def post(self, request, *args, **kwargs):
        serializer = self.WebhookCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(**self.scope, **serializer.validated_data)
        return Response(
            WebhookEndpointCreatedSerializer(endpoint).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("partner_api:webhook-detail", args=[endpoint.pk])},
        )


class WebhookEndpointDetailApi(PartnerAPIView):
    parser_classes = [StrictJSONParser]

    class WebhookUpdateSerializer(_EndpointFields):
        url = serializers.URLField(max_length=500, required=False)
        event_types = serializers.ListField(
            child=serializers.ChoiceField(choices=WebhookEvent.choices),
            allow_empty=False,
            min_length=1,
            max_length=10,
            required=False,
        )
        description = serializers.CharField(max_length=200, required=False, allow_blank=True)
        is_active = serializers.BooleanField(
            required=False, help_text="false pauses deliveries; the secret is kept."
        )

    @extend_schema(
        operation_id="webhooks_retrieve",
        parameters=[ENDPOINT_ID],
        summary="Get a webhook endpoint",
        description="One of your webhook endpoints (without its secret).",
        responses={200: WebhookEndpointSerializer, **error_responses("not_found")},
    )
    def get(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(**self.scope, endpoint_id=endpoint_id)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_update",
        parameters=[ENDPOINT_ID],
        summary="Change a webhook endpoint",
        description="Changes only the fields sent: `url`, `event_types`, `description`, `is_active`.",
        request=WebhookUpdateSerializer,
        responses={
            200: WebhookEndpointSerializer,
            **error_responses("not_found", *BODY_ERRORS, "webhook_url_invalid"),
        },
    )
    def patch(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(**self.scope, endpoint_id=endpoint_id)
        serializer = self.WebhookUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(endpoint=endpoint, **serializer.validated_data)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_delete",
        parameters=[ENDPOINT_ID],
        summary="Delete a webhook endpoint",
        description="Deletes the endpoint and its delivery log; pending deliveries are not sent.",
        responses={204: OpenApiResponse(description="Deleted."), **error_responses("not_found")},
    )
    def delete(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(**self.scope, endpoint_id=endpoint_id)
        services.webhook_endpoint_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(PartnerApiMixin, generics.ListAPIView):
    serializer_class = WebhookDeliverySerializer
    pagination_class = CreatedCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        return selectors.webhook_delivery_list(**self.scope, endpoint_id=self.kwargs["endpoint_id"])

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        parameters=[ENDPOINT_ID],
        summary="List an endpoint's deliveries",
        description=(
            "The delivery log, newest first: each event's status (`pending` while retries remain, "
            "`succeeded`, `failed` after the last attempt), attempts, last status code and error, and "
            "when the next attempt is due."
        ),
        responses={
            200: WebhookDeliverySerializer(many=True),
            **error_responses("not_found", "invalid_cursor", "invalid_limit"),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --------------------------------------------------------------------------------------------- usage


class UsageOutcomeSerializer(serializers.Serializer):
    """What became of a batch's lines: each accepted, a duplicate, or rejected with a reason."""

    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Lines reported before with the same content.")
    rejected_count = serializers.IntegerField()
    rejected = RejectedLineSerializer(many=True)


class UsageBatchApi(PartnerAPIView):
    parser_classes = [StrictJSONParser]

    class UsageBatchSerializer(UsageHeaderSerializer):
        # A ListField, not many=True: drf-spectacular then documents minItems/maxItems as enforced.
        lines = serializers.ListField(
            child=UsageLineInputSerializer(),
            allow_empty=False,
            min_length=1,
            max_length=MAX_USAGE_BATCH_LINES,
        )

    @extend_schema(
        operation_id="usage_report_batch",
        summary="Report usage",
        description=(
            "Usage and net revenue per clip for a period, up to 10,000 lines. A batch with any malformed "
            "line is refused whole; well-formed lines are each accepted, counted as a duplicate (the same "
            "`line_id` and content again: never charged twice), or rejected with a reason."
        ),
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=UsageBatchSerializer,
        responses={
            200: UsageOutcomeSerializer,
            **error_responses(
                *BODY_ERRORS, "idempotency_key_invalid", "idempotency_conflict", "usage_batch_too_large"
            ),
        },
    )
    def post(self, request):
        key = idempotency_key_clean(request.headers.get("Idempotency-Key"))
        lines = request.data.get("lines") if isinstance(request.data, dict) else None
        if isinstance(lines, list) and len(lines) > MAX_USAGE_BATCH_LINES:
            raise UsageBatchTooLarge(f"A batch holds at most {MAX_USAGE_BATCH_LINES} lines; split it.")
        serializer = self.UsageBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        header = services.UsageHeader(
            currency=data["currency"], period_start=data["period_start"], period_end=data["period_end"]
        )
        batch = [services.UsageLineIn(line_no=n, **line) for n, line in enumerate(data["lines"], start=1)]
        fingerprint = request_fingerprint(
            method="POST", path=request.path, label=self.api_key.label, payload=request.data
        )

        def ingest() -> tuple[int, dict]:
            outcome = services.usage_lines_ingest(**self.scope, header=header, lines=batch)
            body = {
                "accepted": outcome.accepted,
                "duplicates": outcome.duplicates,
                "rejected_count": len(outcome.rejected),
                "rejected": outcome.rejected,
            }
            return status.HTTP_200_OK, UsageOutcomeSerializer(body).data

        answer = idempotent_answer(**self.scope, key=key, fingerprint=fingerprint, produce=ingest)
        headers = {"Idempotent-Replayed": "true"} if answer.replayed else {}
        return Response(answer.body, status=answer.status, headers=headers)


class UsageReportCreateApi(PartnerAPIView):
    parser_classes = [MultiPartParser]

    def max_body_bytes(self) -> int:
        return settings.MAX_CSV_UPLOAD_BYTES + 64 * 1024

    class UsageReportUploadSerializer(serializers.Serializer):
        file = serializers.FileField(
            allow_empty_file=False,
            help_text="The report: our CSV layout or a DDEX DSR flat file, told apart by the content.",
        )

    @extend_schema(
        operation_id="usage_reports_create",
        summary="Upload a usage report",
        description=(
            "A usage report file (our CSV layout, or a DDEX DSR flat file recognised by its content), "
            "checked at upload (its header lines) and processed asynchronously: poll "
            "`GET /usage/reports/{report_id}` or subscribe to `usage_report.processed`. The report id in "
            "the file is the idempotency key: the same file again answers `200` with the report already "
            "stored (`Idempotent-Replayed: true`) and is not processed twice; another file under a used "
            "report id is 409 `usage_report_conflict`."
        ),
        request={"multipart/form-data": UsageReportUploadSerializer},
        responses={
            202: OpenApiResponse(UsageReportSerializer, description="Stored and queued for processing."),
            200: OpenApiResponse(UsageReportSerializer, description="This file was uploaded before."),
            **error_responses(*BODY_ERRORS, "usage_report_invalid", "usage_report_conflict"),
        },
    )
    def post(self, request):
        serializer = self.UsageReportUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = services.usage_report_create(**self.scope, upload=serializer.validated_data["file"])
        headers = {"Location": reverse("partner_api:usage-report-detail", args=[upload.report.pk])}
        if upload.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            UsageReportSerializer(upload.report).data,
            status=status.HTTP_200_OK if upload.replayed else status.HTTP_202_ACCEPTED,
            headers=headers,
        )


class UsageReportDetailApi(PartnerAPIView):
    @extend_schema(
        operation_id="usage_reports_retrieve",
        parameters=[REPORT_ID],
        summary="Get a usage report",
        description=(
            "The report's status (`queued`, `processing`, then `processed`, or `failed` with an `error`), "
            "its accepted, duplicate and rejected line counts, and each rejected line with its reason."
        ),
        responses={200: UsageReportSerializer, **error_responses("not_found")},
    )
    def get(self, request, report_id: int):
        report = selectors.usage_report_get(**self.scope, report_id=report_id)
        return Response(UsageReportSerializer(report).data)


# --------------------------------------------------------------------------------------- settlements


class SettlementCursorPagination(CreatedCursorPagination):
    ordering = ("-issued_at", "-id")


class SettlementListApi(PartnerApiMixin, generics.ListAPIView):
    serializer_class = SettlementSerializer
    pagination_class = SettlementCursorPagination

    class FilterSerializer(serializers.Serializer):
        period = serializers.RegexField(
            r"^[0-9]{4}-(0[1-9]|1[0-2])$", required=False, help_text="A month: 2026-10."
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PartnerSettlement.objects.none()
        filters = self.FilterSerializer(data=self.request.query_params)
        # DRF reads an empty optional field as absent, so `?period=` is refused here explicitly.
        if self.request.query_params.get("period") == "" or not filters.is_valid():
            raise InvalidPeriod(
                "period must be a month like 2026-10.", fields={"period": ["Want YYYY-MM, e.g. 2026-10."]}
            )
        return settlement_for_partner(**self.scope, period=filters.validated_data.get("period"))

    @extend_schema(
        operation_id="settlements_list",
        summary="List settlements",
        description=(
            "What you owe this label per closed month and currency, newest month first. A month appears "
            "once the label has closed it; amounts are decimal strings at the currency's minor unit."
        ),
        parameters=[FilterSerializer],
        responses={
            200: SettlementSerializer(many=True),
            **error_responses("invalid_period", "invalid_cursor", "invalid_limit"),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TrainingManifestApi(PartnerAPIView):
    class FilterSerializer(serializers.Serializer):
        date = serializers.DateField(
            required=False, help_text="The day the licence is read on; today if left out."
        )
        manifest_id = serializers.IntegerField(
            required=False,
            min_value=1,
            help_text="Page through a manifest already issued (from `manifest_id`).",
        )
        page = serializers.IntegerField(
            required=False, min_value=1, default=1, help_text="The page of the manifest's recordings, from 1."
        )
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=200, default=100, help_text="Recordings per page (1-200)."
        )

    @extend_schema(
        operation_id="training_manifest_get",
        tags=["training"],
        summary="Get the licensed training manifest",
        description=(
            "The recordings of this key's label you may train on, on `date`: under a deal in force and the "
            "training consent in force (the recording's own choice, else the strictest of its parties', else "
            "the label default). Each recording comes with a signed download URL that needs no key and "
            "expires (`download_expires_at`); every download is logged for the label. `removed` lists "
            "what your previous manifest held and this one does not: act on it. Asking again with nothing "
            "changed answers the same `manifest_id` and `content_hash`."
        ),
        parameters=[FilterSerializer],
        responses={200: TrainingManifestSerializer, **error_responses("invalid", "not_found")},
    )
    def get(self, request, *args, **kwargs):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        if "manifest_id" in params:
            manifest = TrainingManifest.objects.filter(pk=params["manifest_id"], **self.scope).first()
            if manifest is None:
                raise NotFound("No such manifest for this key.")
        else:
            manifest = training_manifest_issue(**self.scope, on=params.get("date") or timezone.localdate())
        page, limit = params["page"], params["limit"]
        ids = manifest.recording_ids[(page - 1) * limit : page * limit]
        by_id = Recording.objects.in_bulk(ids)
        more = len(manifest.recording_ids) > page * limit
        next_url = (
            request.build_absolute_uri(
                f"{reverse('partner_api:training-manifest')}?manifest_id={manifest.pk}&page={page + 1}&limit={limit}"
            )
            if more
            else None
        )
        body = {
            "manifest_id": manifest.pk,
            "as_of": manifest.as_of,
            "content_hash": manifest.content_hash,
            "count": len(manifest.recording_ids),
            "previous_manifest_id": manifest.previous_id,
            "removed": [
                {"isrc": r.recording.isrc, "title": r.recording.title, "reason": r.reason}
                for r in manifest_removals(manifest=manifest)
            ],
            "download_expires_at": download_expires_at(),
            "page": page,
            "next": next_url,
            "results": [
                {
                    "isrc": by_id[i].isrc,
                    "title": by_id[i].title,
                    "display_artist": by_id[i].display_artist,
                    "audio_sha256": by_id[i].audio_sha256,
                    "download_url": request.build_absolute_uri(
                        download_url(manifest=manifest, recording=by_id[i])
                    ),
                }
                for i in ids
                if i in by_id
            ],
        }
        return Response(TrainingManifestSerializer(body).data)


class TrainingDownloadApi(APIView):
    """The audio behind a manifest's signed URL (no key: the signature is the credential)."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        operation_id="training_download",
        tags=["training"],
        summary="Download a manifest recording's audio",
        description=(
            "Follow a `download_url` from the manifest; the signature in `token` is the credential. "
            "Refused once expired (410 `download_link_expired`), when the recording left your licence since "
            "the manifest (410 `recording_withdrawn`) or when the link was not issued by us (403)."
        ),
        auth=[],
        parameters=[
            OpenApiParameter(
                "manifest_id", int, OpenApiParameter.PATH, description="The manifest the link was issued in."
            ),
            OpenApiParameter("isrc", str, OpenApiParameter.PATH, description="The recording's ISRC."),
            OpenApiParameter(
                "token",
                str,
                OpenApiParameter.QUERY,
                required=True,
                description="The link's signature, as the manifest gave it (expires).",
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The audio file."),
            **error_responses(
                "download_link_invalid", "download_link_expired", "recording_withdrawn", "not_found"
            ),
        },
    )
    def get(self, request, manifest_id: int, isrc: str):
        recording = training_download_open(
            manifest_id=manifest_id, isrc=isrc, token=request.query_params.get("token", "")
        )
        return FileResponse(
            recording.audio.open("rb"), as_attachment=True, filename=recording.audio.name.rsplit("/", 1)[-1]
        )


class RecordingConsentApi(PartnerAPIView):
    class FilterSerializer(serializers.Serializer):
        isrc = serializers.CharField(max_length=20, help_text="The recording's ISRC, any common spelling.")
        date = serializers.DateField(
            required=False, help_text="The day to read consent on; today if left out."
        )

        def validate_isrc(self, value: str) -> str:
            try:
                return normalize_isrc(value)
            except Exception as exc:  # django ValidationError with the ISRC's problem
                raise serializers.ValidationError(getattr(exc, "messages", [str(exc)]))

    @extend_schema(
        operation_id="consent_get",
        tags=["training"],
        summary="Read a recording's consent",
        description=(
            "Read-only: whether the artists allow `training` and `conditioning` on a recording of this key's "
            "label on `date`, and whether your deal with the label is in force. The training manifest is the "
            "list of what you may train on; this answers for one recording, e.g. before conditioning on it."
        ),
        parameters=[FilterSerializer],
        responses={200: RecordingConsentSerializer, **error_responses("invalid", "not_found")},
    )
    def get(self, request, *args, **kwargs):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        on = filters.validated_data.get("date") or timezone.localdate()
        recording = Recording.objects.filter(
            label=self.api_key.label, isrc=filters.validated_data["isrc"]
        ).first()
        if recording is None:
            raise NotFound("No recording with this ISRC in the key's label.")
        body = {
            "isrc": recording.isrc,
            "as_of": on,
            "licensed": partner_licensed(self.api_key.label, self.api_key.partner, on),
        }
        for use in (ConsentUse.TRAINING, ConsentUse.CONDITIONING):
            answer = consent_resolve(recording=recording, use=use, on=on)
            since = max((c.effective_from for c in answer.deciding), default=None)
            body[str(use)] = {"state": answer.state, "since": since}
        return Response(RecordingConsentSerializer(body).data)
