"""Partner REST API views: parse, call one service or selector, shape the answer.

Where one URL carries two operations (GET and POST /clips), one class holds both methods, each with
its own serializers and schema: Django routes by path, and drf-spectacular documents per method.
List endpoints use `ListAPIView` so that drf-spectacular derives the cursor pagination and the filter
parameters from the same classes that run, which keeps the schema accurate.
"""

import hashlib

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.identifiers import normalize_isrc
from config.errors import InvalidInput, error_body
from config.input_checks import UntrustedInputError, json_loads_checked, text_problem
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
    RejectedLineSerializer,
    SettlementSerializer,
    UsageHeaderSerializer,
    UsageLineInputSerializer,
    UsageReportSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointSerializer,
)
from partner_api.services import MAX_USAGE_BATCH_LINES
from partner_api.services.idempotency import idempotency_key_clean, idempotent_answer, request_fingerprint
from partner_api.throttles import PartnerThrottle
from royalties.models import PartnerSettlement
from royalties.selectors import settlement_for_partner

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Retry-safe key: a replay answers the first answer; a different body with it is 409.",
)
MAX_EXTRA_BYTES = 16 * 1024


class PartnerApiMixin:
    """Bearer key auth, per-key throttles and body size limits (request ids: config.observability)."""

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


# --------------------------------------------------------------------------------------------- clips


class ClipCollectionApi(PartnerApiMixin, generics.ListAPIView):
    serializer_class = ClipSerializer
    pagination_class = CreatedCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = ClipFilter
    parser_classes = [MultiPartParser]

    def max_body_bytes(self) -> int:
        return settings.MAX_AUDIO_UPLOAD_BYTES + 256 * 1024  # the file plus its metadata fields

    class ClipSubmitInputSerializer(serializers.Serializer):
        audio = serializers.FileField(allow_empty_file=False, help_text="WAV, FLAC, OGG/Opus, MP3, AIFF...")
        external_id = serializers.CharField(max_length=200)
        title = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
        model_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        model_version = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        generated_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        declared_references = serializers.ListField(
            child=serializers.CharField(max_length=20), required=False, default=list, max_length=100
        )
        extra = serializers.CharField(
            required=False, allow_blank=True, default="", help_text="A JSON object, as text (max 16 KiB)."
        )

        def validate_declared_references(self, values: list[str]) -> list[str]:
            try:
                return [normalize_isrc(value) for value in values]
            except Exception as exc:  # django ValidationError with the ISRC's problem
                raise serializers.ValidationError(getattr(exc, "messages", [str(exc)]))

        def validate_extra(self, raw: str) -> dict:
            if not raw:
                return {}
            if len(raw.encode(errors="replace")) > MAX_EXTRA_BYTES:
                raise serializers.ValidationError(f"extra is larger than {MAX_EXTRA_BYTES} bytes.")
            try:
                value = json_loads_checked(raw)
            except UntrustedInputError as exc:
                raise serializers.ValidationError(f"extra is not storable JSON: {exc}")
            if not isinstance(value, dict):
                raise serializers.ValidationError("extra must be a JSON object.")
            return value

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
        parameters=[
            OpenApiParameter(
                "external_id",
                {"type": "string", "minLength": 1, "maxLength": 200},
                OpenApiParameter.QUERY,
                description="Only the clip with this external id.",
            )
        ],
        responses={200: ClipSerializer(many=True), **error_responses()},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="clips_submit",
        summary="Submit a clip for attribution",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request={"multipart/form-data": ClipSubmitInputSerializer},
        responses={
            202: OpenApiResponse(ClipSerializer, description="Accepted and queued."),
            200: OpenApiResponse(ClipSerializer, description="A replay: the clip already submitted."),
            **error_responses(409, 413, 415, 422),
        },
    )
    def post(self, request, *args, **kwargs):
        key = idempotency_key_clean(request.headers.get("Idempotency-Key"))
        serializer = self.ClipSubmitInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        audio = data.pop("audio")
        if audio.size > settings.MAX_AUDIO_UPLOAD_BYTES:
            raise PayloadTooLarge(f"The audio file is larger than {settings.MAX_AUDIO_UPLOAD_BYTES} bytes.")
        audio_sha256 = _file_sha256(audio)
        metadata = services.ClipMetadata(
            **{**data, "declared_references": tuple(data["declared_references"])}
        )
        fingerprint = request_fingerprint(
            method="POST",
            path=request.path,
            label=self.api_key.label,
            payload={**data, "audio_sha256": audio_sha256},
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
    @extend_schema(operation_id="clips_retrieve", responses={200: ClipSerializer, **error_responses()})
    def get(self, request, clip_id: int):
        clip = selectors.clip_get(**self.scope, clip_id=clip_id)
        return Response(ClipSerializer(clip).data)


class ClipAttributionApi(PartnerAPIView):
    @extend_schema(
        operation_id="clips_attribution_current",
        summary="The clip's current attribution",
        responses={200: AttributionSerializer, **error_responses()},
    )
    def get(self, request, clip_id: int):
        attribution = selectors.attribution_current(**self.scope, clip_id=clip_id)
        return Response(AttributionSerializer(attribution).data)


class ClipAttributionListApi(PartnerAPIView):
    @extend_schema(
        operation_id="clips_attributions_list",
        summary="Every attribution version of the clip, newest first",
        responses={200: AttributionSerializer(many=True), **error_responses()},
    )
    def get(self, request, clip_id: int):
        attributions = selectors.attribution_list(**self.scope, clip_id=clip_id)
        return Response(AttributionSerializer(attributions, many=True).data)


# ------------------------------------------------------------------------------------------ webhooks


class _EndpointFields(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices),
        allow_empty=False,
        min_length=1,
        max_length=10,
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(help_text="The signing secret; shown only in this answer.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookEndpointCollectionApi(PartnerApiMixin, generics.ListAPIView):
    serializer_class = WebhookEndpointSerializer
    pagination_class = CreatedCursorPagination
    parser_classes = [StrictJSONParser]

    class WebhookCreateInputSerializer(_EndpointFields):
        pass

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return selectors.webhook_endpoint_list(**self.scope)

    @extend_schema(
        operation_id="webhooks_list",
        responses={200: WebhookEndpointSerializer(many=True), **error_responses()},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="webhooks_create",
        request=WebhookCreateInputSerializer,
        responses={201: WebhookEndpointCreatedSerializer, **error_responses(413, 415)},
    )
    def post(self, request, *args, **kwargs):
        serializer = self.WebhookCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(**self.scope, **serializer.validated_data)
        return Response(
            WebhookEndpointCreatedSerializer(endpoint).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("partner_api:webhook-detail", args=[endpoint.pk])},
        )


class WebhookEndpointDetailApi(PartnerAPIView):
    parser_classes = [StrictJSONParser]

    class WebhookUpdateInputSerializer(_EndpointFields):
        url = serializers.URLField(max_length=500, required=False)
        event_types = serializers.ListField(
            child=serializers.ChoiceField(choices=WebhookEvent.choices),
            allow_empty=False,
            min_length=1,
            max_length=10,
            required=False,
        )
        description = serializers.CharField(max_length=200, required=False, allow_blank=True)
        is_active = serializers.BooleanField(required=False)

    @extend_schema(
        operation_id="webhooks_retrieve", responses={200: WebhookEndpointSerializer, **error_responses()}
    )
    def get(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(**self.scope, endpoint_id=endpoint_id)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_update",
        request=WebhookUpdateInputSerializer,
        responses={200: WebhookEndpointSerializer, **error_responses(413, 415)},
    )
    def patch(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(**self.scope, endpoint_id=endpoint_id)
        serializer = self.WebhookUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(endpoint=endpoint, **serializer.validated_data)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(operation_id="webhooks_delete", responses={204: None, **error_responses()})
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
        responses={200: WebhookDeliverySerializer(many=True), **error_responses()},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --------------------------------------------------------------------------------------------- usage


class UsageOutcomeSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected_count = serializers.IntegerField()
    rejected = RejectedLineSerializer(many=True)


class UsageBatchApi(PartnerAPIView):
    parser_classes = [StrictJSONParser]

    class UsageBatchInputSerializer(UsageHeaderSerializer):
        # A ListField, not many=True: drf-spectacular then documents minItems/maxItems as enforced.
        lines = serializers.ListField(
            child=UsageLineInputSerializer(),
            allow_empty=False,
            min_length=1,
            max_length=MAX_USAGE_BATCH_LINES,
        )

    @extend_schema(
        operation_id="usage_report_batch",
        summary="Report usage and net revenue (JSON, up to 10,000 lines)",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=UsageBatchInputSerializer,
        responses={200: UsageOutcomeSerializer, **error_responses(409, 413, 415)},
    )
    def post(self, request):
        key = idempotency_key_clean(request.headers.get("Idempotency-Key"))
        lines = request.data.get("lines") if isinstance(request.data, dict) else None
        if isinstance(lines, list) and len(lines) > MAX_USAGE_BATCH_LINES:
            raise UsageBatchTooLarge(f"A batch holds at most {MAX_USAGE_BATCH_LINES} lines; split it.")
        serializer = self.UsageBatchInputSerializer(data=request.data)
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
            help_text="The report: our CSV or a DDEX DSR flat file (layouts in the docs).",
        )

    @extend_schema(
        operation_id="usage_reports_create",
        summary="Upload a usage report (CSV or DDEX DSR), processed asynchronously",
        request={"multipart/form-data": UsageReportUploadSerializer},
        description=(
            "A DDEX DSR flat file is recognised by its content; its MessageId is the report id. "
            "The HEAD line's report id is the idempotency key: the same file again answers 200 with the "
            "report already stored (`Idempotent-Replayed: true`) and is not processed twice; another file "
            "under a used report id is 409 `usage_report_conflict`."
        ),
        responses={
            202: UsageReportSerializer,
            200: OpenApiResponse(UsageReportSerializer, description="A replay of an uploaded report."),
            **error_responses(409, 413, 415),
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
        operation_id="usage_reports_retrieve", responses={200: UsageReportSerializer, **error_responses()}
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
        period = serializers.RegexField(r"^\d{4}-\d{2}$", required=False, help_text="A month: 2026-10.")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PartnerSettlement.objects.none()
        if self.request.query_params.get("period") == "":  # DRF reads an empty optional field as absent
            raise InvalidInput(
                "The period filter is empty.", fields={"period": ["This filter needs a value."]}
            )
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return settlement_for_partner(**self.scope, period=filters.validated_data.get("period"))

    @extend_schema(
        operation_id="settlements_list",
        summary="Settlements of closed periods: what the partner owes this label",
        parameters=[FilterSerializer],
        responses={200: SettlementSerializer(many=True), **error_responses()},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
