"""Representations shared by several views and by webhook payloads (one shape per resource).

Views keep their own nested Input/Output serializers; these are the resources they answer with.
"""

from datetime import date
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from fingerprinting.models import Attribution, AttributionShare, Clip, ClipStatus, ShareRight
from ledger.money import is_known_currency, money_quantize
from partner_api.models import UsageReport, WebhookDelivery, WebhookEndpoint, WebhookEvent


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable and machine-readable; each operation lists the codes it can answer."
    )
    message = serializers.CharField(help_text="For people; may change.")
    fields = serializers.DictField(
        child=serializers.JSONField(),
        help_text="The inputs at fault, by name, with what is wrong with each (empty when none is).",
    )


class ErrorSerializer(serializers.Serializer):
    """Every 4xx answer: `{"error": {"code", "message", "fields"}}`."""

    error = ErrorDetailSerializer()


# An amount of money: a decimal string at its currency's ISO 4217 minor unit ("12.30" EUR, "1230" JPY,
# "1.250" BHD). Rounded half-up by ledger.money.money_quantize, the one place money is rounded.
MONEY_SCHEMA = {
    "type": "string",
    "format": "decimal",
    "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
    "description": "Decimal string at the currency's minor unit (EUR 2 places, JPY 0, BHD 3).",
    "examples": ["14.40"],
}


def money_text(amount: Decimal, currency: str) -> str:
    return format(money_quantize(Decimal(amount), currency), "f")


@extend_schema_field(MONEY_SCHEMA)
class MoneyField(serializers.Field):
    """Reads `amount_attr` and `currency` from the object (source="*"): the amount in the currency's
    minor unit."""

    def __init__(self, amount_attr: str, **kwargs):
        self.amount_attr = amount_attr
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value) -> str:
        return money_text(getattr(value, self.amount_attr), value.currency)


class ClipRejectSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ClipLinksSerializer(serializers.Serializer):
    self = serializers.CharField()
    attribution = serializers.CharField()
    attributions = serializers.CharField()


_DATETIME = serializers.DateTimeField()


# The declared fields of ClipSerializer are the schema; `to_representation` writes the same shape
# directly, because this runs on every poll of GET /clips/{id} and DRF's per-instance copy of the
# declared fields was a third of that request's time (tests/partner_api/test_clips.py checks the two
# agree).
class ClipSerializer(serializers.Serializer):
    """A submitted clip: its metadata as you sent it, and where its attribution stands (`status`:
    queued, processing, then attributed or rejected with a `reject` reason)."""

    id = serializers.IntegerField(help_text="Stemma's id of the clip.")
    external_id = serializers.CharField(help_text="Your id of the clip, unique per partner.")
    status = serializers.ChoiceField(choices=ClipStatus.choices)
    title = serializers.CharField()
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    generated_at = serializers.DateTimeField(allow_null=True)
    declared_references = serializers.ListField(
        child=serializers.CharField(), help_text="ISRCs the generation was conditioned on, normalized."
    )
    extra = serializers.DictField(help_text="The JSON object you sent as `extra`.")
    voice_model = serializers.IntegerField(
        allow_null=True, help_text="The licensed voice model you declared (its id), or null."
    )
    audio_format = serializers.CharField(help_text="Sniffed from the file's bytes: wav, flac, ogg, mp3...")
    duration_seconds = serializers.FloatField(allow_null=True, help_text="Known once processed.")
    reject = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    links = serializers.SerializerMethodField()

    @extend_schema_field(ClipRejectSerializer(allow_null=True))
    def get_reject(self, clip: Clip) -> dict | None:
        if not clip.reject_code:
            return None
        return {"code": clip.reject_code, "message": clip.reject_message}

    @extend_schema_field(ClipLinksSerializer)
    def get_links(self, clip: Clip) -> dict:
        url = reverse("partner_api:clip-detail", args=[clip.pk])
        return {"self": url, "attribution": f"{url}/attribution", "attributions": f"{url}/attributions"}

    def to_representation(self, clip: Clip) -> dict:
        def when(value):
            return None if value is None else _DATETIME.to_representation(value)

        return {
            "id": clip.pk,
            "external_id": clip.external_id,
            "status": clip.status,
            "title": clip.title,
            "model_name": clip.model_name,
            "model_version": clip.model_version,
            "generated_at": when(clip.generated_at),
            "declared_references": list(clip.declared_references),
            "extra": clip.extra,
            "voice_model": clip.voice_model_id,
            "audio_format": clip.audio_format,
            "duration_seconds": clip.duration_seconds,
            "reject": self.get_reject(clip),
            "created_at": when(clip.created_at),
            "updated_at": when(clip.updated_at),
            "links": self.get_links(clip),
        }


class RecordingRefSerializer(serializers.Serializer):
    isrc = serializers.CharField()
    title = serializers.CharField()
    display_artist = serializers.CharField()


class AttributionShareSerializer(serializers.ModelSerializer):
    recording = RecordingRefSerializer()
    share = serializers.DecimalField(max_digits=7, decimal_places=6)
    right = serializers.ChoiceField(
        choices=ShareRight.choices,
        read_only=True,
        help_text="The right the share implicates: `recording` (the clip reuses the recording's audio: "
        "master and composition) or `composition` (it re-performs the work: publishing only).",
    )

    class Meta:
        model = AttributionShare
        fields = ["rank", "recording", "share", "right", "lane", "evidence"]
        read_only_fields = fields


class EngineSerializer(serializers.Serializer):
    name = serializers.CharField(source="engine_name")
    version = serializers.CharField(source="engine_version")
    embedder_version = serializers.CharField()
    index_version = serializers.CharField()


class AttributionSerializer(serializers.ModelSerializer):
    clip_id = serializers.IntegerField()
    unattributed = serializers.DecimalField(max_digits=7, decimal_places=6)
    engine = EngineSerializer(source="*")
    shares = AttributionShareSerializer(many=True)
    is_current = serializers.SerializerMethodField()

    class Meta:
        model = Attribution
        fields = [
            "clip_id",
            "version",
            "is_current",
            "review_state",
            "confidence",
            "unattributed",
            "shares",
            "engine",
            "evidence",
            "reason",
            "created_at",
        ]
        read_only_fields = fields

    def get_is_current(self, attribution: Attribution) -> bool:
        return attribution.clip.current_attribution_id == attribution.pk


class RejectedLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="1-based line number in the file, or index in the batch.")
    line_id = serializers.CharField(allow_blank=True)
    code = serializers.CharField()
    reason = serializers.CharField()


class UsageReportSerializer(serializers.ModelSerializer):
    rejected_lines = RejectedLineSerializer(many=True)
    error = serializers.SerializerMethodField()

    class Meta:
        model = UsageReport
        fields = [
            "id",
            "report_ref",
            "period_start",
            "period_end",
            "currency",
            "status",
            "line_count",
            "accepted_count",
            "duplicate_count",
            "rejected_count",
            "rejected_lines",
            "error",
            "created_at",
            "processed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ClipRejectSerializer(allow_null=True))
    def get_error(self, report: UsageReport) -> dict | None:
        if not report.error_code:
            return None
        return {"code": report.error_code, "message": report.error_message}


class WebhookEndpointSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices))

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "event_types", "description", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


# ------------------------------------------------------------------------------------ usage (input)
# One definition of a valid usage line, used by POST /usage (JSON) and by the CSV report processing.

EARLIEST_USAGE_DATE = date(2000, 1, 1)
MAX_PERIOD_DAYS = 366
MAX_USAGE_COUNT = 10**15


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise serializers.ValidationError("NUL characters are not allowed.")
    return value


class UsageHeaderSerializer(serializers.Serializer):
    currency = serializers.RegexField(r"^[A-Z]{3}$", help_text="ISO 4217, e.g. EUR.")
    period_start = serializers.DateField()
    period_end = serializers.DateField()

    def validate_currency(self, value: str) -> str:
        if not is_known_currency(value):
            raise serializers.ValidationError(f"{value!r} is not an ISO 4217 currency code.")
        return value

    def validate(self, attrs):
        start, end = attrs["period_start"], attrs["period_end"]
        today = timezone.now().date()
        if start < EARLIEST_USAGE_DATE or start > today:
            raise serializers.ValidationError(
                {"period_start": [f"must be between {EARLIEST_USAGE_DATE} and today."]}
            )
        if end < start or (end - start).days >= MAX_PERIOD_DAYS:
            raise serializers.ValidationError(
                {"period_end": [f"must be on or after period_start and within {MAX_PERIOD_DAYS} days of it."]}
            )
        return attrs


@extend_schema_serializer(component_name="UsageLine")
class UsageLineInputSerializer(serializers.Serializer):
    """One usage line: a clip (`clip_id` or your `external_id`), its usage count and net revenue."""

    line_id = serializers.CharField(max_length=100, validators=[_no_nul], help_text="Your id for the line.")
    clip_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    external_id = serializers.CharField(required=False, max_length=200, validators=[_no_nul])
    usage_count = serializers.IntegerField(min_value=0, max_value=MAX_USAGE_COUNT)
    net_revenue = serializers.DecimalField(
        max_digits=24, decimal_places=6, min_value=Decimal(0), help_text="Net revenue in the batch currency."
    )
    # No default: an absent territory is absent (stored blank), in JSON as in a CSV's empty cell; a
    # default of "" would publish a value its own pattern refuses, and generated clients would send it.
    territory = serializers.RegexField(r"^[A-Z]{2}$", required=False, help_text="ISO 3166-1 alpha-2.")
    usage_date = serializers.DateField(required=False, help_text="Within the period; default period_start.")

    def validate(self, attrs):
        if "clip_id" not in attrs and not attrs.get("external_id"):
            raise serializers.ValidationError({"clip_id": ["Give clip_id or external_id."]})
        return attrs


@extend_schema_field(MONEY_SCHEMA)
class MoneyTextField(serializers.CharField):
    """An amount already written by money_text."""


class SettlementDealSerializer(serializers.Serializer):
    deal = serializers.IntegerField(help_text="The label's id of the deal.")
    revenue = MoneyTextField(help_text="Revenue reported under the deal.")
    pool = MoneyTextField(help_text="The royalty pool: revenue x the deal's rate.")
    voice_fees = MoneyTextField(
        help_text="Flat-rate voice model fees under the deal: rate x uses of clips declaring such a model."
    )


@extend_schema_field(SettlementDealSerializer(many=True))
class SettlementDetailField(serializers.Field):
    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, settlement) -> list[dict]:
        return [
            {
                "deal": item["deal"],
                "revenue": money_text(Decimal(item["revenue"]), settlement.currency),
                "pool": money_text(Decimal(item["pool"]), settlement.currency),
                # Settlements closed before flat-rate voice models have no fees in their detail.
                "voice_fees": money_text(Decimal(item.get("voice_fees", "0")), settlement.currency),
            }
            for item in settlement.detail or []
        ]


class SettlementSerializer(serializers.Serializer):
    """What you owe the label for one closed month, in one currency. Amounts are decimal strings at the
    currency's minor unit; `amount_due` is what the label's ledger books."""

    id = serializers.IntegerField()
    period = serializers.SerializerMethodField()
    currency = serializers.CharField(help_text="ISO 4217.")
    line_count = serializers.IntegerField(help_text="Usage lines in the month.")
    usage_count = serializers.IntegerField(help_text="Their usage counts, summed.")
    revenue = MoneyField("revenue_exact", help_text="Net revenue you reported for the month.")
    pool = MoneyField("pool_exact", help_text="The royalty pool: revenue x each deal's rate.")
    voice_fees = MoneyField(
        "voice_fees_exact",
        help_text="Flat-rate voice model fees: each model's rate x the uses you reported of clips that "
        "declared it, owed on top of the pool.",
    )
    amount_due = MoneyField("amount_due", help_text="What you owe the label: the pool plus the voice fees.")
    issued_at = serializers.DateTimeField()
    detail = SettlementDetailField(help_text="Per deal: revenue, pool and voice fees.")

    @extend_schema_field({"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$", "examples": ["2026-10"]})
    def get_period(self, settlement) -> str:
        return f"{settlement.period.month:%Y-%m}"


class ManifestRecordingSerializer(serializers.Serializer):
    isrc = serializers.CharField()
    title = serializers.CharField()
    display_artist = serializers.CharField()
    audio_sha256 = serializers.CharField(help_text="SHA-256 of the audio file, hex: check what you download.")
    download_url = serializers.URLField(
        help_text="Signed link to the audio; no key needed, expires at the manifest page's `download_expires_at`."
    )


class ManifestRemovalSerializer(serializers.Serializer):
    isrc = serializers.CharField()
    title = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=["consent_withdrawn", "not_licensed", "taken_down", "no_audio"],
        help_text="Why it left: an opt-out, the deal ended, a takedown, or its audio is gone.",
    )


class TrainingManifestSerializer(serializers.Serializer):
    """One page of a training manifest: the recordings you may train on for this label on `as_of`, under
    your deal and the artists' consent then in force, and what left since your previous manifest."""

    manifest_id = serializers.IntegerField(help_text="Page through the same manifest with `manifest_id`.")
    as_of = serializers.DateField()
    content_hash = serializers.CharField(
        help_text="sha256 over the sorted `isrc:audio_sha256` lines: the same content, the same hash."
    )
    count = serializers.IntegerField(help_text="Recordings in the whole manifest.")
    previous_manifest_id = serializers.IntegerField(allow_null=True)
    removed = ManifestRemovalSerializer(
        many=True,
        help_text="In your previous manifest, not in this one: stop training on these, delete them.",
    )
    download_expires_at = serializers.DateTimeField()
    page = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    results = ManifestRecordingSerializer(many=True)


class UnlicensedUseSerializer(serializers.Serializer):
    """A use of a recording outside the licence, found in an attribution: held, never paid, in review."""

    isrc = serializers.SerializerMethodField(help_text="The recording; null for a voice use.")
    use = serializers.ChoiceField(
        choices=["training", "conditioning", "voice"],
        help_text="`training` for a share, `conditioning` for a declared reference, `voice` for the declared "
        "voice model.",
    )
    reason = serializers.ChoiceField(
        choices=["consent_opt_out", "not_licensed"],
        help_text="The artists' consent for the use was opt-out on the clip's date, or no deal licensed it.",
    )
    share = serializers.DecimalField(max_digits=7, decimal_places=6, allow_null=True)
    clip_date = serializers.DateField()
    consent = serializers.CharField(source="consent_summary", help_text="The consent versions in force.")

    @extend_schema_field({"type": ["string", "null"]})
    def get_isrc(self, use) -> str | None:
        return use.recording.isrc if use.recording_id else None


class ConsentAnswerSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["opt_in", "opt_out"])
    since = serializers.DateField(
        allow_null=True,
        help_text="When the deciding choice took effect; null when no choice was ever recorded.",
    )


class RecordingConsentSerializer(serializers.Serializer):
    """The artists' consent for a recording of this key's label on `as_of`, per use (the recording's own
    choice, else the strictest of its parties' and works', else the label's default)."""

    isrc = serializers.CharField()
    as_of = serializers.DateField()
    licensed = serializers.BooleanField(help_text="Whether a deal between you and the label is in force.")
    training = ConsentAnswerSerializer()
    conditioning = ConsentAnswerSerializer()
