"""The catalog: labels (tenants), their people, recordings, works and ownership splits.

Invariants:
- Every catalog row belongs to exactly one `Label`; requests only ever see rows of labels the user is a
  member of (`LabelScopedQuerySet.for_user`, applied once in `catalog.tenancy`).
- A `Split` is one effective-dated version of who owns a recording for one right type. Versions are
  never edited or back-dated: a change is a new version starting after the latest one. The shares of a
  version sum to exactly 1 (checked by `catalog.services.split_create`, the only writer).
"""

from datetime import date
from decimal import Decimal
from typing import Self

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.identifiers import validate_ipi, validate_isni, validate_isrc, validate_iswc

SHARE_PLACES = 6
# A voice model's flat rate per use: per-play rates are fractions of a cent (0.0004 USD), so six places
# as partners report revenue (royalties.REVENUE_PLACES); twelve digits leave a million per use.
VOICE_RATE_DIGITS, VOICE_RATE_PLACES = 12, 6
ONE = Decimal(1)


class Label(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    default_currency = models.CharField(max_length=3, default="EUR")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    RIGHTS_MANAGER = "rights_manager", "Rights manager"
    VIEWER = "viewer", "Viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.RIGHTS_MANAGER: 1, Role.ADMIN: 2}


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "label"], name="membership_unique_user_label")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.label} ({self.role})"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class LabelScopedQuerySet(models.QuerySet):
    """Rows of the labels a user belongs to. The one place tenant scoping is written."""

    label_path = "label"

    def for_user(self, user) -> Self:
        if not user or not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(**{f"{self.label_path}__memberships__user": user}).distinct()

    def for_label(self, label: Label) -> Self:
        return self.filter(**{self.label_path: label})


class Partner(models.Model):
    """An AI music platform that labels license their catalogs to (through deals, in royalties)."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PartyKind(models.TextChoices):
    ARTIST = "artist", "Artist"
    WRITER = "writer", "Writer"
    PUBLISHER = "publisher", "Publisher"
    RIGHTS_HOLDER = "rights_holder", "Rights holder"


class Party(models.Model):
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="parties")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=PartyKind.choices, default=PartyKind.ARTIST)
    ipi = models.CharField("IPI name number", max_length=11, blank=True, validators=[validate_ipi])
    isni = models.CharField("ISNI", max_length=16, blank=True, validators=[validate_isni])
    email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "parties"
        constraints = [
            models.UniqueConstraint(
                fields=["label", "ipi"], condition=~Q(ipi=""), name="party_unique_ipi_per_label"
            ),
            models.UniqueConstraint(
                fields=["label", "isni"], condition=~Q(isni=""), name="party_unique_isni_per_label"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RecordingStatus(models.TextChoices):
    NO_AUDIO = "no_audio", "No audio"
    PENDING = "pending", "Pending fingerprinting"
    PROCESSING = "processing", "Processing"
    INDEXED = "indexed", "Indexed"
    FAILED = "failed", "Failed"


def recording_audio_path(instance: "Recording", filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"labels/{instance.label_id}/recordings/{instance.isrc}.{suffix}"


class RecordingQuerySet(LabelScopedQuerySet):
    def search(self, text: str) -> "RecordingQuerySet":
        text = (text or "").strip()
        if not text:
            return self
        compact = text.replace("-", "").upper()
        return self.filter(Q(title__icontains=text) | Q(display_artist__icontains=text) | Q(isrc=compact))


class Recording(models.Model):
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="recordings")
    isrc = models.CharField("ISRC", max_length=12, validators=[validate_isrc])
    title = models.CharField(max_length=300)
    display_artist = models.CharField(max_length=300)
    duration_seconds = models.FloatField(null=True, blank=True)
    audio = models.FileField(upload_to=recording_audio_path, blank=True, max_length=300)
    audio_sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=20, choices=RecordingStatus.choices, default=RecordingStatus.NO_AUDIO
    )
    status_reason = models.CharField(max_length=300, blank=True)
    # A takedown (DDEX ERN) makes a recording inactive; its splits, audio, attributions and earnings stay.
    is_active = models.BooleanField(default=True)
    inactive_since = models.DateTimeField(null=True, blank=True)
    inactive_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RecordingQuerySet.as_manager()

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "isrc"], name="recording_unique_isrc_per_label")
        ]
        indexes = [models.Index(fields=["label", "status"])]

    def __str__(self) -> str:
        return f"{self.display_artist} - {self.title} ({self.isrc})"


class Work(models.Model):
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="works")
    iswc = models.CharField("ISWC", max_length=11, validators=[validate_iswc])
    title = models.CharField(max_length=300)
    recordings = models.ManyToManyField(Recording, related_name="works", blank=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["title"]
        constraints = [models.UniqueConstraint(fields=["label", "iswc"], name="work_unique_iswc_per_label")]

    def __str__(self) -> str:
        return f"{self.title} ({self.iswc})"


class RightType(models.TextChoices):
    MASTER = "master", "Master"
    PUBLISHING = "publishing", "Publishing"


class SplitQuerySet(LabelScopedQuerySet):
    label_path = "recording__label"

    def in_force(self, *, on: date) -> "SplitQuerySet":
        """The version in force on a date for each (recording, right type): the latest starting on or before it."""
        newer = Split.objects.filter(
            recording=models.OuterRef("recording"),
            right_type=models.OuterRef("right_type"),
            effective_from__lte=on,
            effective_from__gt=models.OuterRef("effective_from"),
        )
        return self.filter(effective_from__lte=on).exclude(models.Exists(newer))


class Split(models.Model):
    """One version of a recording's ownership for one right type, from `effective_from` on."""

    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="splits")
    right_type = models.CharField(max_length=20, choices=RightType.choices)
    effective_from = models.DateField()
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SplitQuerySet.as_manager()

    class Meta:
        ordering = ["recording_id", "right_type", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["recording", "right_type", "effective_from"], name="split_one_version_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.recording.isrc} {self.right_type} from {self.effective_from}"


class SplitShare(models.Model):
    split = models.ForeignKey(Split, on_delete=models.CASCADE, related_name="shares")
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="split_shares")
    share = models.DecimalField(max_digits=SHARE_PLACES + 1, decimal_places=SHARE_PLACES)

    class Meta:
        ordering = ["-share", "party_id"]
        constraints = [
            models.UniqueConstraint(fields=["split", "party"], name="split_share_one_per_party"),
            models.CheckConstraint(
                condition=Q(share__gt=0) & Q(share__lte=1), name="split_share_between_0_and_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.party} {self.share}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    INVALID = "invalid", "Invalid, nothing imported"
    FAILED = "failed", "Failed"


class ImportJobQuerySet(LabelScopedQuerySet):
    pass


class ImportKind(models.TextChoices):
    CSV = "csv", "Catalog CSV"
    DDEX = "ddex", "DDEX ERN batch (zip)"


class ImportJob(models.Model):
    """A catalog import (CSV, or a zipped DDEX ERN batch) started from the web UI, run by a task so the
    page can show progress."""

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="import_jobs")
    kind = models.CharField(max_length=10, choices=ImportKind.choices, default=ImportKind.CSV)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(upload_to="imports/%Y/%m/", max_length=300)
    file_name = models.CharField(max_length=300)
    skip_invalid = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    total_lines = models.PositiveIntegerField(default=0)
    processed_lines = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)  # counts from ImportReport
    errors = models.JSONField(
        default=list, blank=True
    )  # [{"line", "isrc", "reason"}; DDEX: "message_id", "xpath", "file"]
    rejects_csv = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.file_name}"

    @property
    def percent(self) -> int:
        return int(100 * self.processed_lines / self.total_lines) if self.total_lines else 0

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.INVALID, ImportStatus.FAILED)


class DdexMessageQuerySet(LabelScopedQuerySet):
    pass


class DdexMessage(models.Model):
    """A DDEX ERN message applied to a label's catalog (catalog.ddex). Its MessageId makes a re-delivery
    of the same file a no-op, and another file under a used MessageId an error."""

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="ddex_messages")
    message_id = models.CharField(max_length=100)
    sender = models.CharField(max_length=300, blank=True)
    ern_version = models.CharField(max_length=10)
    update_indicator = models.CharField(max_length=30, blank=True)  # ERN 3.8: OriginalMessage/UpdateMessage
    message_created_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=300, blank=True)
    file_sha256 = models.CharField(max_length=64)
    recordings = models.PositiveIntegerField(default=0)
    taken_down = models.PositiveIntegerField(default=0)
    problems = models.PositiveIntegerField(default=0)  # with --skip-invalid, the elements left out
    applied_at = models.DateTimeField(auto_now_add=True)

    objects = DdexMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-applied_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "message_id"], name="ddex_message_unique_per_label")
        ]

    def __str__(self) -> str:
        return f"ERN {self.ern_version} {self.message_id}"


class AuditEventQuerySet(LabelScopedQuerySet):
    pass


class AuditEvent(models.Model):
    """Who changed what, when: splits, imports, attributions, periods, keys. Append-only."""

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=60)  # e.g. "split.created", "attribution.adjusted", "period.closed"
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64)
    summary = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["label", "action"]),
            models.Index(fields=["label", "object_type", "object_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}:{self.object_id}"


class ConsentUse(models.TextChoices):
    """What an artist may allow or refuse, per AI use (docs/consent.md)."""

    TRAINING = "training", "Training"  # the partner may train a model on the recording
    CONDITIONING = "conditioning", "Conditioning"  # may be given to a model as a reference or prompt
    VOICE = "voice", "Voice"  # a voice model of the party may be built and used


class ConsentState(models.TextChoices):
    OPT_IN = "opt_in", "Opted in"
    OPT_OUT = "opt_out", "Opted out"


class ConsentScope(models.TextChoices):
    LABEL = "label", "Label default"
    PARTY = "party", "Party"
    RECORDING = "recording", "Recording"
    WORK = "work", "Work"


class ConsentQuerySet(LabelScopedQuerySet):
    def in_force(self, *, on: date) -> "ConsentQuerySet":
        """The version in force on a date for each (subject, use): the latest starting on or before it."""
        newer = Consent.objects.filter(
            label=models.OuterRef("label"),
            subject_key=models.OuterRef("subject_key"),
            use=models.OuterRef("use"),
            effective_from__lte=on,
            effective_from__gt=models.OuterRef("effective_from"),
        )
        return self.filter(effective_from__lte=on).exclude(models.Exists(newer))


class Consent(models.Model):
    """One effective-dated version of a consent choice for one use, by a label (its default policy), a
    party, a recording or a work. Like splits, versions are never edited, deleted or back-dated: a change
    is a new version starting after the latest one (and after the label's last closed period). The
    database refuses UPDATE and DELETE (catalog/migrations/0004_consent.py)."""

    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="consents")
    scope = models.CharField(max_length=10, choices=ConsentScope.choices)
    party = models.ForeignKey(Party, null=True, blank=True, on_delete=models.PROTECT, related_name="consents")
    recording = models.ForeignKey(
        Recording, null=True, blank=True, on_delete=models.PROTECT, related_name="consents"
    )
    work = models.ForeignKey(Work, null=True, blank=True, on_delete=models.PROTECT, related_name="consents")
    # "label", "party:<id>", "recording:<id>" or "work:<id>": one non-null column to compare versions by
    # (NULL never equals NULL in SQL, so the foreign keys cannot serve in the unique constraint).
    subject_key = models.CharField(max_length=40, editable=False)
    use = models.CharField(max_length=20, choices=ConsentUse.choices)
    state = models.CharField(max_length=10, choices=ConsentState.choices)
    effective_from = models.DateField()
    version = models.PositiveIntegerField()  # 1, 2, ... per (subject, use)
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        ordering = ["label_id", "scope", "use", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="label", party__isnull=True, recording__isnull=True, work__isnull=True)
                    | Q(scope="party", party__isnull=False, recording__isnull=True, work__isnull=True)
                    | Q(scope="recording", party__isnull=True, recording__isnull=False, work__isnull=True)
                    | Q(scope="work", party__isnull=True, recording__isnull=True, work__isnull=False)
                ),
                name="consent_one_subject_per_scope",
            ),
            models.UniqueConstraint(
                fields=["label", "subject_key", "use", "effective_from"], name="consent_one_version_per_day"
            ),
        ]
        indexes = [
            models.Index(fields=["recording", "use", "effective_from"]),
            models.Index(fields=["party", "use", "effective_from"]),
            models.Index(fields=["work", "use", "effective_from"]),
        ]

    def __str__(self) -> str:
        return f"{self.subject_name} {self.use} {self.state} from {self.effective_from} (v{self.version})"

    @property
    def subject_name(self) -> str:
        if self.scope == ConsentScope.RECORDING:
            return f"recording {self.recording.isrc}" if self.recording else "recording"
        if self.scope == ConsentScope.PARTY:
            return f"party {self.party.name}" if self.party else "party"
        if self.scope == ConsentScope.WORK:
            return f"work {self.work.iswc}" if self.work else "work"
        return "label default"


def consent_subject_key(*, scope: str, subject_id: int | None) -> str:
    return scope if scope == ConsentScope.LABEL else f"{scope}:{subject_id}"


class VoiceModel(models.Model):
    """A licensed voice model of a party, run by a partner. Its licence terms are one of two kinds
    (docs/consent.md, "Voice models"): a share, `pool_share` of the pool of each clip that declares it
    (after the label's part), or a flat rate, `rate_per_use` in `rate_currency` for each use (play) the
    partner reports of such a clip, owed on top of the pool (royalties.close). Registered only with the
    party's `voice` consent in force (catalog.voice); terms are never edited: new terms are a new model
    from a later date."""

    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="voice_models")
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="voice_models")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="voice_models")
    name = models.CharField(max_length=200)
    pool_share = models.DecimalField(
        max_digits=SHARE_PLACES + 1, decimal_places=SHARE_PLACES, null=True, blank=True
    )
    rate_per_use = models.DecimalField(
        max_digits=VOICE_RATE_DIGITS, decimal_places=VOICE_RATE_PLACES, null=True, blank=True
    )
    rate_currency = models.CharField(max_length=3, blank=True)  # ISO 4217; blank for a share
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["label_id", "name", "effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pool_share__gt=0) & Q(pool_share__lte=1), name="voice_model_share_range"
            ),
            # One kind of terms: a share of the pool, or a positive flat rate per use with its currency.
            models.CheckConstraint(
                condition=(
                    Q(pool_share__isnull=False, rate_per_use__isnull=True, rate_currency="")
                    | (Q(pool_share__isnull=True, rate_per_use__gt=0) & ~Q(rate_currency=""))
                ),
                name="voice_model_one_kind_of_terms",
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=models.F("effective_from")),
                name="voice_model_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.party} x {self.partner})"

    def in_force(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or self.effective_to >= on)

    @property
    def is_flat_rate(self) -> bool:
        return self.rate_per_use is not None

    @property
    def terms(self) -> str:
        """The licence terms in words: "20% of the pool" or "0.002 EUR per use"."""
        if self.rate_per_use is not None:
            return f"{self.rate_per_use.normalize():f} {self.rate_currency} per use"
        return f"{(self.pool_share or 0) * 100:.4g}% of the pool"
