"""Deals, usage, periods, the monthly close's records, statements, settlements and payouts.

Invariants:
- A `UsageLine` is unique per (partner, partner_line_id): a replayed report inserts nothing. Revenue is
  negative only on an explicit `adjustment` line (CHECK). Lines are accepted only into an open period.
- A `Period` (label, month) goes open -> closing -> closed. A closed period's rows (allocations,
  statements and their lines, settlements) are written once by `royalties.services.period_close`, in the
  same database transaction as its ledger postings, and never changed afterwards: a later revision of an
  attribution becomes adjustment lines in a later period, referencing the allocation it corrects.
- Money that is owed is in the ledger (`ledger`); these rows explain it. Amounts named `*_exact` are
  unrounded (full precision); every other amount is quantized to its currency's minor unit.
"""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError as StdnumError

from catalog.models import Label, LabelScopedQuerySet, Partner, Party, Recording, RightType
from fingerprinting.models import Attribution, Clip, ShareRight

RATE_DIGITS, RATE_PLACES = 7, 6  # fractions in [0, 1] with six places, like shares
MONEY_DIGITS, MONEY_PLACES = 24, 4  # rounded money (any ISO 4217 minor unit)
REVENUE_DIGITS, REVENUE_PLACES = 24, 6  # partners report revenue with up to six places
EXACT_DIGITS, EXACT_PLACES = 44, 24  # unrounded intermediate amounts


def money_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, **kwargs)


def exact_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=EXACT_DIGITS, decimal_places=EXACT_PLACES, **kwargs)


def rate_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=RATE_DIGITS, decimal_places=RATE_PLACES, **kwargs)


class ProRataRule(models.TextChoices):
    EQUAL_PER_RECORDING = "equal_per_recording", "Equal per licensed recording"
    BY_ATTRIBUTED_SHARE = "by_attributed_share", "By the recording's attributed earnings in the period"


class DealQuerySet(LabelScopedQuerySet):
    def in_force(self, *, on: date) -> "DealQuerySet":
        return self.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=on), effective_from__lte=on)


class Deal(models.Model):
    """A label's licence to a partner. Pool per usage line = net revenue x `royalty_rate`.

    Of the pool, `label_share` stays with the label; the rest is split into the attributed part
    (`attributed_fraction`, paid by the clip's influence shares) and the pro-rata part (the remainder,
    paid across the label's licensed catalog by `pro_rata_rule`). Both divide between the rights by
    `publishing_fraction`: that fraction pays publishing splits, the rest (`master_fraction`) master
    splits; a `composition` share draws on the publishing part only. See docs/royalties.md.

    Terms are never edited: new terms (a new division between the rights included) are a new deal from
    a later date.
    """

    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="deals")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="deals")
    name = models.CharField(max_length=200, blank=True)
    royalty_rate = rate_field()
    attributed_fraction = rate_field(default=Decimal(1))
    label_share = rate_field(default=Decimal(0))
    pro_rata_rule = models.CharField(
        max_length=30, choices=ProRataRule.choices, default=ProRataRule.EQUAL_PER_RECORDING
    )
    # Of the pool after the label's part, what pays publishing (works); 1 - this pays master. Replaced the
    # single `right_type` (fingerprinting 0006 / royalties 0009): a master deal is 0, a publishing deal 1.
    publishing_fraction = rate_field(default=Decimal(0))
    currency = models.CharField(max_length=3)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DealQuerySet.as_manager()

    class Meta:
        ordering = ["label_id", "partner_id", "effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(royalty_rate__gt=0) & Q(royalty_rate__lte=1), name="deal_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(attributed_fraction__gte=0) & Q(attributed_fraction__lte=1),
                name="deal_attributed_fraction_range",
            ),
            models.CheckConstraint(
                condition=Q(label_share__gte=0) & Q(label_share__lte=1), name="deal_label_share_range"
            ),
            models.CheckConstraint(
                condition=Q(publishing_fraction__gte=0) & Q(publishing_fraction__lte=1),
                name="deal_publishing_fraction_range",
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=models.F("effective_from")),
                name="deal_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.label} x {self.partner} from {self.effective_from}"

    @property
    def master_fraction(self) -> Decimal:
        return Decimal(1) - self.publishing_fraction

    def fraction_of(self, right_type: str) -> Decimal:
        """The part of the pool (after the label's) that pays splits of `right_type`."""
        return self.publishing_fraction if right_type == RightType.PUBLISHING else self.master_fraction


def validate_iban(value: str) -> None:
    try:
        stdnum_iban.validate(value)
    except StdnumError as exc:
        raise ValidationError(f"not a valid IBAN: {exc}")


def validate_bic(value: str) -> None:
    try:
        stdnum_bic.validate(value)
    except StdnumError as exc:
        raise ValidationError(f"not a valid BIC: {exc}")


class PayeeProfile(models.Model):
    """How a party is paid: statement currency, bank details, withholding tax, contractual advance."""

    party = models.OneToOneField(Party, on_delete=models.PROTECT, related_name="payee_profile")
    currency = models.CharField(max_length=3)
    iban = models.CharField("IBAN", max_length=34, blank=True, validators=[validate_iban])
    bic = models.CharField("BIC", max_length=11, blank=True, validators=[validate_bic])
    withholding_rate = rate_field(default=Decimal(0))
    advance_amount = money_field(default=Decimal(0))  # granted through royalties.services.advance_grant
    # Printed on the party's statements (the payee block); free text, as postal formats differ by country.
    address = models.TextField(blank=True, max_length=500)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(withholding_rate__gte=0) & Q(withholding_rate__lt=1),
                name="payee_withholding_range",
            )
        ]

    def __str__(self) -> str:
        return f"payee {self.party}"


class LabelRoyaltySettings(models.Model):
    label = models.OneToOneField(Label, on_delete=models.CASCADE, related_name="royalty_settings")
    payout_threshold = money_field(default=Decimal(0))  # in the label's default currency
    auto_close = models.BooleanField(default=True)  # closed by the monthly beat task
    address = models.TextField(blank=True, max_length=500)  # the label's address on its statements

    class Meta:
        verbose_name_plural = "label royalty settings"

    def __str__(self) -> str:
        return f"royalty settings of {self.label}"


class FxRate(models.Model):
    """One entry of a month's rate table: 1 `base` = `rate` `quote`."""

    month = models.DateField()  # first day of the month
    base = models.CharField(max_length=3)
    quote = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=24, decimal_places=10)
    source = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "base", "quote"]
        constraints = [
            models.UniqueConstraint(fields=["month", "base", "quote"], name="fx_one_rate_per_month_pair"),
            models.CheckConstraint(condition=Q(rate__gt=0), name="fx_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} 1 {self.base} = {self.rate} {self.quote} ({self.source})"


class UsageLineType(models.TextChoices):
    USAGE = "usage", "Usage"
    ADJUSTMENT = "adjustment", "Adjustment"


class UsageLine(models.Model):
    # No database foreign-key checks on usage lines: both ingestion paths resolve the clip (and copy
    # its label and partner) in the same statement that validates the line, clips are never deleted
    # (PROTECT), and a million deferred FK checks at commit cost a third of the bulk path's time.
    label = models.ForeignKey(
        Label, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    # Not indexed either: nothing reads usage by clip (the close reads a label's month, by the
    # (label, usage_date) index), and each index costs the bulk path about a fifth of its speed.
    clip = models.ForeignKey(
        Clip, on_delete=models.PROTECT, related_name="usage_lines", db_constraint=False, db_index=False
    )
    partner_line_id = models.CharField(max_length=100)
    line_type = models.CharField(max_length=20, choices=UsageLineType.choices, default=UsageLineType.USAGE)
    usage_date = models.DateField()
    territory = models.CharField(max_length=2, blank=True)
    usage_count = models.BigIntegerField(default=0)
    net_revenue = models.DecimalField(max_digits=REVENUE_DIGITS, decimal_places=REVENUE_PLACES)
    currency = models.CharField(max_length=3)
    received_at = models.DateTimeField(auto_now_add=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["usage_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "partner_line_id"], name="usage_line_unique_per_partner"
            ),
            models.CheckConstraint(condition=Q(usage_count__gte=0), name="usage_count_not_negative"),
            models.CheckConstraint(
                condition=Q(net_revenue__gte=0) | Q(line_type=UsageLineType.ADJUSTMENT),
                name="usage_negative_only_adjustment",
            ),
        ]
        indexes = [models.Index(fields=["label", "usage_date"], name="usage_label_date")]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.partner_line_id}"


class DsrMessage(models.Model):
    """A DDEX DSR file (one file of a message) ingested into usage lines, by the API or the command line.

    The sender's MessageId (with the file number of a multi-file message) names it: the same file again is
    a replay that adds nothing, another file under the same MessageId is refused (royalties.dsr).
    """

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+")
    message_id = models.CharField(max_length=100)
    file_number = models.PositiveIntegerField(default=1)
    number_of_files = models.PositiveIntegerField(default=1)
    file_sha256 = models.CharField(max_length=64)
    profile = models.CharField(max_length=60)
    usage_start = models.DateField()
    usage_end = models.DateField()
    record_count = models.PositiveIntegerField(default=0)
    usage_record_count = models.PositiveIntegerField(default=0)
    accepted_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    rejected_lines = models.JSONField(default=list, blank=True)  # [{"record", "line_id", "code", "reason"}]
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "message_id", "file_number"], name="dsr_message_unique_per_partner"
            )
        ]

    def __str__(self) -> str:
        return f"DSR {self.message_id} ({self.file_number} of {self.number_of_files})"


class PeriodStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSING = "closing", "Closing"
    CLOSED = "closed", "Closed"


class Period(models.Model):
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="royalty_periods")
    month = models.DateField()  # first day of the month
    status = models.CharField(max_length=10, choices=PeriodStatus.choices, default=PeriodStatus.OPEN)
    closing_started_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.JSONField(default=dict, blank=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["label_id", "-month"]
        constraints = [models.UniqueConstraint(fields=["label", "month"], name="period_one_per_label_month")]

    def __str__(self) -> str:
        return f"{self.label_id} {self.month:%Y-%m} ({self.status})"

    @property
    def start(self) -> date:
        return self.month

    @property
    def end(self) -> date:
        nxt = date(self.month.year + (self.month.month == 12), self.month.month % 12 + 1, 1)
        return date.fromordinal(nxt.toordinal() - 1)

    @property
    def code(self) -> str:
        return f"{self.month:%Y-%m}"


class AllocationKind(models.TextChoices):
    USAGE = "usage", "Usage of the period"
    REVISION = "revision", "Revision of an earlier allocation"


class ClipAllocation(models.Model):
    """How one clip's pool under one deal was allocated at a close (the basis for later adjustments)."""

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="allocations")
    deal = models.ForeignKey(Deal, on_delete=models.PROTECT, related_name="+")
    # clip and attribution are copied from rows the close has just read; like statement lines, they
    # skip the database FK check (100,000 rows a month), period and deal keep theirs.
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    kind = models.CharField(max_length=10, choices=AllocationKind.choices, default=AllocationKind.USAGE)
    origin = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    split_on = models.DateField()  # the date whose splits in force were used
    currency = models.CharField(max_length=3)  # the deal's currency
    usage_count = models.BigIntegerField(default=0)
    pool_exact = exact_field()
    attributed_exact = exact_field()
    attribution = models.ForeignKey(
        Attribution, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    payable = models.BooleanField()
    held_amount = money_field(default=Decimal(0))  # rounded amount put in suspense for this clip
    # Exact: the part of the hold that is a voice model's (its pool share or flat fee), paid to the model's
    # party when a later close releases the hold; the rest (`attributed_exact`) follows the attribution.
    voice_held_exact = exact_field(default=Decimal(0))
    is_current = models.BooleanField(default=True)  # False once a later revision replaced it

    class Meta:
        ordering = ["period_id", "id"]
        indexes = [
            models.Index(fields=["clip"], name="alloc_current_clip", condition=Q(is_current=True)),
            # The month page's held clips, most money first (royalties.month.held_clips): the few held
            # among a month's allocations (one per clip used), read in order without sorting them all.
            models.Index(
                fields=["period", "-held_amount", "clip"],
                name="alloc_held_by_money",
                condition=~Q(held_amount=0),
            ),
        ]

    def __str__(self) -> str:
        return f"allocation {self.pk} of clip {self.clip_id} in period {self.period_id}"


class PartnerSettlement(models.Model):
    """What a partner owes a label for a closed period, in one currency."""

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="settlements")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="settlements")
    currency = models.CharField(max_length=3)
    line_count = models.BigIntegerField()
    usage_count = models.BigIntegerField()
    revenue_exact = exact_field()  # in the settlement currency
    pool_exact = exact_field()
    # Flat-rate voice fees (rate x uses of clips declaring such a voice model), owed on top of the pool.
    voice_fees_exact = exact_field(default=Decimal(0))
    amount_due = money_field()
    issued_at = models.DateTimeField()
    detail = models.JSONField(default=list)  # per deal: revenue, pool, voice fees

    class Meta:
        ordering = ["period_id", "partner_id", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "partner", "currency"], name="settlement_one_per_period_partner_currency"
            )
        ]

    def __str__(self) -> str:
        return f"settlement {self.partner_id} {self.currency} {self.amount_due}"


class Statement(models.Model):
    """A party's royalty statement for a closed period, in the party's currency. Immutable once issued."""

    period = models.ForeignKey(Period, on_delete=models.PROTECT, related_name="statements")
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="statements")
    number = models.CharField(max_length=40, unique=True)
    currency = models.CharField(max_length=3)
    opening_balance = money_field()
    earnings = money_field()
    adjustments = money_field()
    withholding = money_field()
    recouped = money_field()
    payouts = money_field()
    closing_balance = money_field()
    payout_threshold = money_field()
    carried_forward = models.BooleanField()  # closing balance below the threshold: not paid this time
    issued_at = models.DateTimeField()

    class Meta:
        ordering = ["period_id", "number"]
        constraints = [models.UniqueConstraint(fields=["period", "party"], name="statement_one_per_party")]

    def __str__(self) -> str:
        return self.number


class StatementLineKind(models.TextChoices):
    EARNING = "earning", "Earning"
    PRO_RATA = "pro_rata", "Pro-rata earning"
    VOICE = "voice", "Voice model"  # a licensed voice model's share of a clip that declared it
    ADJUSTMENT = "adjustment", "Adjustment"
    FX = "fx", "Currency conversion"
    WITHHOLDING = "withholding", "Withholding tax"
    RECOUPMENT = "recoupment", "Advance recouped"
    PAYOUT = "payout", "Payout"


class StatementLine(models.Model):
    # partner / recording / clip say what a line is about; the close copies them from rows it has just
    # read, and checking ~750,000 of each at commit would double the close's time. The statement FK is
    # a real constraint.
    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="lines")
    kind = models.CharField(max_length=12, choices=StatementLineKind.choices)
    partner = models.ForeignKey(
        Partner, null=True, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    recording = models.ForeignKey(
        Recording, null=True, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    clip = models.ForeignKey(
        Clip, null=True, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    usage_count = models.BigIntegerField(default=0)
    amount_exact = exact_field()  # unrounded, in `currency`
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=300, blank=True)
    # The right of the attribution share an earning or adjustment line pays (recording / composition);
    # blank on lines no share paid (pro-rata, FX, withholding, recoupment, payouts).
    right = models.CharField(max_length=12, choices=ShareRight.choices, blank=True, default="")
    # Whose split paid the line: master or publishing; blank on lines that are not paid through a split.
    right_type = models.CharField(max_length=20, choices=RightType.choices, blank=True, default="")

    class Meta:
        ordering = ["statement_id", "id"]
        indexes = [
            models.Index(
                fields=["recording"], name="statement_line_recording", condition=Q(recording__isnull=False)
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_exact} {self.currency}"


class PayoutStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    VOIDED = "voided", "Voided"


class PayoutBatch(models.Model):
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="payout_batches")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=PayoutStatus.choices, default=PayoutStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    paid_at = models.DateTimeField(null=True, blank=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"payout batch {self.pk} ({self.status})"


class PayoutLine(models.Model):
    """One party's payment in a batch. Never edited: voiding posts a reversal if it was paid."""

    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="lines")
    party = models.ForeignKey(Party, on_delete=models.PROTECT, related_name="+")
    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="payout_lines")
    amount = money_field()
    currency = models.CharField(max_length=3)
    iban = models.CharField(max_length=34, blank=True)
    bic = models.CharField(max_length=11, blank=True)
    status = models.CharField(max_length=10, choices=PayoutStatus.choices, default=PayoutStatus.PENDING)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["batch_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement"],
                condition=~Q(status=PayoutStatus.VOIDED),
                name="payout_once_per_statement",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"payout {self.party_id} {self.amount} {self.currency} ({self.status})"


class TrainingManifest(models.Model):
    """The recordings a partner may train on under its deal with a label and the consent in force on
    `as_of` (royalties.manifest). Issued once per distinct content: asking again with nothing changed
    answers the same manifest. `removed_ids` are the recordings of the partner's previous manifest (for
    this label) that this one no longer holds: the partner must stop using them."""

    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="training_manifests")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="training_manifests")
    as_of = models.DateField()
    content_hash = models.CharField(max_length=64)  # sha256 of the sorted "isrc:audio sha256" lines
    recording_ids = models.JSONField(default=list)  # sorted by ISRC
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    removed_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["label", "partner", "-created_at"])]

    def __str__(self) -> str:
        return f"manifest {self.pk} of {self.partner} @ {self.label} as of {self.as_of}"


class TrainingDownload(models.Model):
    """One download of a recording's audio through a manifest's signed URL: which partner, which
    manifest, when. The label sees who held a recording before it was withdrawn."""

    manifest = models.ForeignKey(TrainingManifest, on_delete=models.PROTECT, related_name="downloads")
    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="training_downloads")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="training_downloads")
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="training_downloads")
    downloaded_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-downloaded_at", "-id"]
        indexes = [models.Index(fields=["recording", "-downloaded_at"])]

    def __str__(self) -> str:
        return f"{self.partner} downloaded {self.recording_id} via manifest {self.manifest_id}"
