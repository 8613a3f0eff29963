"""Clips submitted by partners and their attributions.

Invariants:
- An `Attribution` is immutable once written: re-attribution (new index, a person's review) creates a
  new version (`version` = previous + 1) and moves `Clip.current_attribution`; nothing is overwritten.
- For every attribution, the sum of its `AttributionShare.share` plus `unattributed` is exactly 1
  (Decimal, SHARE_PLACES places), checked by the service that writes it.
- Every share names the right it implicates (`ShareRight`): `recording` pays master and publishing,
  `composition` pays publishing only (royalties.close).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models

from catalog.models import Label, LabelScopedQuerySet, Partner, Party, Recording, VoiceModel

SHARE_PLACES = 6
SHARE_QUANTUM = Decimal(1).scaleb(-SHARE_PLACES)


class ClipStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    ATTRIBUTED = "attributed", "Attributed"
    REJECTED = "rejected", "Rejected"


class Clip(models.Model):
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="clips")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="clips")
    external_id = models.CharField(max_length=200)
    title = models.CharField(max_length=300, blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)
    declared_references = models.JSONField(
        default=list, blank=True
    )  # ISRCs the generation was conditioned on
    extra = models.JSONField(default=dict, blank=True)
    audio = models.FileField(upload_to="clips/%Y/%m/", max_length=300)
    audio_sha256 = models.CharField(max_length=64, blank=True)
    audio_format = models.CharField(max_length=20, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=ClipStatus.choices, default=ClipStatus.QUEUED)
    reject_code = models.CharField(max_length=50, blank=True)
    reject_message = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    current_attribution = models.ForeignKey(
        "Attribution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The licensed voice model the partner declares it used (catalog.VoiceModel): its party is paid a
    # voice share through the close. An undeclared clip never pays a voice share.
    voice_model = models.ForeignKey(
        VoiceModel, null=True, blank=True, on_delete=models.PROTECT, related_name="clips"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "external_id"], name="clip_unique_external_id_per_partner"
            )
        ]
        indexes = [
            models.Index(fields=["label", "status"]),
            models.Index(fields=["status", "processing_started_at"]),
            # The clip list and dashboard: a label's clips, newest first.
            models.Index(fields=["label", "-created_at", "-id"], name="clip_label_newest"),
        ]

    def __str__(self) -> str:
        return f"clip {self.pk} ({self.partner_id}:{self.external_id})"


class ReviewState(models.TextChoices):
    AUTO_ACCEPTED = "auto_accepted", "Accepted automatically"
    NEEDS_REVIEW = "needs_review", "Needs review"
    CONFIRMED = "confirmed", "Confirmed by a person"
    ADJUSTED = "adjusted", "Adjusted by a person"
    DISPUTED = "disputed", "Disputed"


# Attributions in these states are paid on at a close; others wait (their revenue is held undistributed).
PAYABLE_REVIEW_STATES = (ReviewState.AUTO_ACCEPTED, ReviewState.CONFIRMED, ReviewState.ADJUSTED)


class AttributionQuerySet(LabelScopedQuerySet):
    label_path = "clip__label"


class Attribution(models.Model):
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="attributions")
    version = models.PositiveIntegerField()
    unattributed = models.DecimalField(max_digits=SHARE_PLACES + 1, decimal_places=SHARE_PLACES)
    review_state = models.CharField(max_length=20, choices=ReviewState.choices)
    # Why the engine sent it to review, one entry per problem: {"code", "message", "isrc"?, "run"?}
    # (fingerprinting.engine.acceptance); empty when auto-accepted or set by a person.
    review_reasons = models.JSONField(default=list, blank=True)
    confidence = models.FloatField(default=0.0)
    engine_name = models.CharField(max_length=100)
    engine_version = models.CharField(max_length=50)
    embedder_version = models.CharField(max_length=100, blank=True)
    index_version = models.CharField(max_length=100, blank=True)
    parameters = models.JSONField(default=dict)
    evidence = models.JSONField(default=dict)  # clip-level: declared references check, windows, lanes
    timings = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    supersedes = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AttributionQuerySet.as_manager()

    class Meta:
        ordering = ["clip_id", "-version"]
        constraints = [models.UniqueConstraint(fields=["clip", "version"], name="attribution_unique_version")]
        indexes = [
            # The review queue: the few attributions waiting for a person, among millions.
            models.Index(
                fields=["id"],
                condition=models.Q(review_state__in=["needs_review", "disputed"]),
                name="attribution_waiting_review",
            ),
            models.Index(fields=["created_at"], name="attribution_created"),
        ]

    def __str__(self) -> str:
        return f"attribution v{self.version} of clip {self.clip_id}"

    @property
    def is_payable(self) -> bool:
        return self.review_state in PAYABLE_REVIEW_STATES

    @property
    def outside_licence(self) -> bool:
        """It drew on a recording outside the licence (fingerprinting.licence): held, never paid."""
        return any(reason.get("code") == "outside_licence" for reason in self.review_reasons or [])


class Lane(models.TextChoices):
    VERBATIM = "verbatim", "Verbatim (fingerprint)"
    STYLE = "style", "Style (embedding)"
    BOTH = "both", "Verbatim and style"
    COMPOSITION = "composition", "Composition (re-performed)"
    MANUAL = "manual", "Set by a person"


class ShareRight(models.TextChoices):
    """Which right a share implicates (docs/royalties.md, "Rights per share").

    `recording`: the clip reuses the recording's audio, so both its master and the work it embodies;
    `composition`: the clip re-performs the work (melody, harmony, bass line) with other sounds, so only
    the work (publishing), never the master.
    """

    RECORDING = "recording", "Recording (master and composition)"
    COMPOSITION = "composition", "Composition only"


class AttributionShare(models.Model):
    attribution = models.ForeignKey(Attribution, on_delete=models.PROTECT, related_name="shares")
    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="attribution_shares")
    rank = models.PositiveSmallIntegerField()
    share = models.DecimalField(max_digits=SHARE_PLACES + 1, decimal_places=SHARE_PLACES)
    lane = models.CharField(max_length=20, choices=Lane.choices)
    # A database default too: shares stored before rights existed read as `recording` (what every lane
    # found then) without an UPDATE of immutable rows, which the triggers would refuse.
    right = models.CharField(
        max_length=12,
        choices=ShareRight.choices,
        default=ShareRight.RECORDING,
        db_default=ShareRight.RECORDING,
    )
    evidence = models.JSONField(default=dict)  # reused runs, per-window and per-aspect similarity

    class Meta:
        ordering = ["attribution_id", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["attribution", "recording"], name="attribution_share_one_per_recording"
            ),
            models.CheckConstraint(
                condition=models.Q(share__gt=0) & models.Q(share__lte=1), name="attribution_share_range"
            ),
            models.CheckConstraint(
                condition=models.Q(right__in=ShareRight.values), name="attribution_share_right_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recording_id}: {self.share}"


class IndexVersion(models.Model):
    """One version of a label's catalog index (files under MEDIA_ROOT, see fingerprinting.index).

    Exactly one version per label is current; the files' CURRENT pointer is the source of truth for
    workers, this row is the history people see (admin) and what attributions name.
    """

    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="index_versions")
    version = models.CharField(max_length=100)
    parent = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=20)  # "flat" (exact inner product) or "ivf"
    n_recordings = models.PositiveIntegerField()
    n_segments = models.PositiveIntegerField()
    embedder_version = models.CharField(max_length=100)
    engine_version = models.CharField(max_length=50)
    calibration = models.JSONField(default=dict)
    # Groups of recordings holding the same audio (fingerprinting.engine.duplicates).
    near_duplicates = models.JSONField(default=list, blank=True)
    is_current = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["label_id", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "version"], name="index_version_unique_per_label"),
            models.UniqueConstraint(
                fields=["label"], condition=models.Q(is_current=True), name="index_version_one_current"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label_id}:{self.version}"


class UnlicensedReason(models.TextChoices):
    CONSENT_OPT_OUT = "consent_opt_out", "Consent opted out"
    NOT_LICENSED = "not_licensed", "No deal with the partner"


class UnlicensedUseQuerySet(LabelScopedQuerySet):
    pass


class UnlicensedUse(models.Model):
    """A clip that drew on a recording outside the licence: the recording's consent for the use was
    opt-out on the clip's date, or no deal licensed it to the partner then (fingerprinting.licence).
    Evidence for the label, kept whole: the engine's evidence of the share, and the consent versions in
    force. Its attribution is held in review, and the close never pays it. Append-only."""

    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="unlicensed_uses")
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="unlicensed_uses")
    attribution = models.ForeignKey(Attribution, on_delete=models.PROTECT, related_name="unlicensed_uses")
    # A recording for training (a share) and conditioning (a declared reference); a party for voice.
    recording = models.ForeignKey(
        Recording, null=True, blank=True, on_delete=models.PROTECT, related_name="unlicensed_uses"
    )
    party = models.ForeignKey(
        Party, null=True, blank=True, on_delete=models.PROTECT, related_name="unlicensed_uses"
    )
    use = models.CharField(max_length=20)  # catalog.ConsentUse
    reason = models.CharField(max_length=20, choices=UnlicensedReason.choices)
    share = models.DecimalField(
        max_digits=SHARE_PLACES + 1, decimal_places=SHARE_PLACES, null=True, blank=True
    )
    clip_date = models.DateField()
    consent_version_ids = models.JSONField(default=list, blank=True)
    consent_summary = models.CharField(max_length=500, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    detected_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = UnlicensedUseQuerySet.as_manager()

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["attribution", "recording", "party", "use", "reason"],
                name="unlicensed_use_once_per_attribution",
            )
        ]

    def __str__(self) -> str:
        return f"clip {self.clip_id}: {self.use} of {self.recording_id} ({self.reason})"
