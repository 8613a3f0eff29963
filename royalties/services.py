"""Functions that change royalties state. Each runs in one transaction (period_close: see its docstring)."""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import Label, Partner, Party
from catalog.services import audit_record
from ledger.models import Transaction
from ledger.money import is_known_currency, is_quantized
from ledger.selectors import balances_for_codes
from ledger.services import PostingSpec, accounts_ensure, transaction_post, transaction_reverse
from royalties import accounts as chart
from royalties.close import close_compute, close_write, collector_paused
from royalties.errors import (
    CloseBlocked,
    FxRateLocked,
    PayeeInvalid,
    PayoutInvalid,
    PayoutStateConflict,
    RoyaltyError,
)
from royalties.ingest import (  # noqa: F401  (re-exported: the service API other apps call)
    LineOutcome,
    UsageIngestResult,
    UsageLineInput,
    usage_ingest,
    usage_ingest_copy,
)
from royalties.models import (
    Deal,
    FxRate,
    LabelRoyaltySettings,
    PayeeProfile,
    PayoutBatch,
    PayoutLine,
    PayoutStatus,
    Period,
    PeriodStatus,
    Statement,
)
from royalties.periods import month_of, parse_period

logger = logging.getLogger(__name__)


# --- Deals, payees, settings, FX -----------------------------------------------------------------


@transaction.atomic
def deal_create(
    *,
    label: Label,
    partner: Partner,
    royalty_rate: Decimal,
    currency: str,
    effective_from: date,
    effective_to: date | None = None,
    attributed_fraction: Decimal = Decimal(1),
    label_share: Decimal = Decimal(0),
    pro_rata_rule: str = "equal_per_recording",
    publishing_fraction: Decimal = Decimal(0),
    name: str = "",
) -> Deal:
    """A deal from `effective_from` (to `effective_to`, or open). `publishing_fraction` is the part of
    the pool after the label's that pays publishing splits; the rest pays master splits (0: a master
    licence, 1: a publishing licence). Refused when it would overlap the label's deal with the partner."""
    if not is_known_currency(currency):
        raise RoyaltyError(f"unknown currency {currency!r}", fields={"currency": [currency]})
    deal = Deal(
        label=label,
        partner=partner,
        royalty_rate=royalty_rate,
        currency=currency,
        effective_from=effective_from,
        effective_to=effective_to,
        attributed_fraction=attributed_fraction,
        label_share=label_share,
        pro_rata_rule=pro_rata_rule,
        publishing_fraction=publishing_fraction,
        name=name,
    )
    try:
        deal.full_clean()
    except ValidationError as exc:
        raise RoyaltyError("invalid deal terms", fields=exc.message_dict)
    # Lock the partner's deals of this label so two concurrent creations cannot both pass the check.
    existing = Deal.objects.select_for_update().filter(label=label, partner=partner)
    overlapping = existing.filter(Q(effective_to__isnull=True) | Q(effective_to__gte=effective_from))
    if effective_to is not None:
        overlapping = overlapping.filter(effective_from__lte=effective_to)
    if overlapping.exists():
        raise RoyaltyError("the label already has a deal with this partner in force on those dates")
    deal.save()
    return deal


@transaction.atomic
def deal_start(*, label: Label, partner: Partner, effective_from: date, created_by=None, **terms) -> Deal:
    """New terms with a partner from a date (the deal form). Terms are never edited: when an open-ended
    deal is in force, it is ended the day before, which changes no priced month because a month that has
    closed (or started closing) on or after that day refuses the new deal."""
    current = (
        Deal.objects.select_for_update()
        .filter(label=label, partner=partner, effective_to__isnull=True, effective_from__lt=effective_from)
        .first()
    )
    priced = Period.objects.filter(label=label, month__gte=month_of(effective_from)).exclude(
        status=PeriodStatus.OPEN
    )
    if priced.exists():
        raise RoyaltyError(
            f"{month_of(effective_from):%Y-%m} or a later month is already closed: new terms start after it",
            fields={"effective_from": ["After the last closed month."]},
        )
    if current is not None:
        current.effective_to = effective_from - timedelta(days=1)
        current.save(update_fields=["effective_to"])
    deal = deal_create(label=label, partner=partner, effective_from=effective_from, **terms)
    audit_record(
        label=label,
        actor=created_by,
        action="deal.created",
        obj=deal,
        summary=f"deal with {partner.name} from {effective_from}: rate {deal.royalty_rate * 100:.2f} %"
        + (f"; the deal from {current.effective_from} ends {current.effective_to}" if current else ""),
    )
    return deal


@transaction.atomic
def payee_profile_set(
    *,
    party: Party,
    currency: str,
    iban: str = "",
    bic: str = "",
    withholding_rate: Decimal = Decimal(0),
    advance_amount: Decimal = Decimal(0),
    address: str = "",
) -> PayeeProfile:
    """Create or replace a party's payment details (IBAN/BIC validated with python-stdnum)."""
    from stdnum import bic as stdnum_bic
    from stdnum import iban as stdnum_iban

    if not is_known_currency(currency):
        raise PayeeInvalid(f"unknown currency {currency!r}", fields={"currency": [currency]})
    profile = PayeeProfile.objects.filter(party=party).first() or PayeeProfile(party=party)
    profile.currency = currency
    profile.iban = stdnum_iban.compact(iban) if iban else ""
    profile.bic = stdnum_bic.compact(bic) if bic else ""
    profile.withholding_rate = withholding_rate
    profile.advance_amount = advance_amount
    profile.address = address.strip()
    try:
        profile.full_clean()
    except ValidationError as exc:
        raise PayeeInvalid("invalid payment details", fields=exc.message_dict)
    profile.save()
    return profile


@transaction.atomic
def label_royalty_settings_set(
    *, label: Label, payout_threshold: Decimal, auto_close: bool = True, address: str | None = None
) -> LabelRoyaltySettings:
    if payout_threshold < 0 or not is_quantized(payout_threshold, label.default_currency):
        raise RoyaltyError("the payout threshold must be a non-negative amount in the label's currency")
    defaults: dict = {"payout_threshold": payout_threshold, "auto_close": auto_close}
    if address is not None:  # None keeps the address entered before
        defaults["address"] = address.strip()
    settings, _ = LabelRoyaltySettings.objects.update_or_create(label=label, defaults=defaults)
    return settings


@transaction.atomic
def fx_rate_set(*, period: str | date, base: str, quote: str, rate: Decimal, source: str) -> FxRate:
    """Enter (or import) one rate of a month's table. Its rates are fixed once a period of the month closed."""
    month = parse_period(period)
    if not (is_known_currency(base) and is_known_currency(quote)) or base == quote:
        raise RoyaltyError(f"invalid currency pair {base}/{quote}")
    if not rate.is_finite() or rate <= 0:
        raise RoyaltyError(f"invalid rate {rate}")
    if Period.objects.filter(month=month, status=PeriodStatus.CLOSED).exists():
        # A closed month was priced (and is reconciled) with the rates it had: they never change, and no
        # direct pair is added where a close may have used the inverse. New pairs (a currency no close
        # of the month could have used, since it would have been blocked) are fine.
        same = FxRate.objects.filter(month=month, base=base, quote=quote, rate=rate).first()
        if same is not None:
            return same
        if (
            FxRate.objects.filter(month=month)
            .filter(Q(base=base, quote=quote) | Q(base=quote, quote=base))
            .exists()
        ):
            raise FxRateLocked(f"{base}/{quote} of {month:%Y-%m} is fixed: a period of that month is closed")
    fx, _ = FxRate.objects.update_or_create(
        month=month, base=base, quote=quote, defaults={"rate": rate, "source": source}
    )
    return fx


@transaction.atomic
def fx_rates_import(*, period: str | date, rows: list[tuple[str, str, str]], source: str) -> list[FxRate]:
    """Import a month's rate table: rows of (base, quote, rate). All or nothing."""
    imported = []
    for n, (base, quote, raw) in enumerate(rows, start=1):
        try:
            rate = Decimal(str(raw).strip())
        except InvalidOperation:
            raise RoyaltyError(f"row {n}: rate {raw!r} is not a number")
        imported.append(
            fx_rate_set(
                period=period,
                base=base.strip().upper(),
                quote=quote.strip().upper(),
                rate=rate,
                source=source,
            )
        )
    return imported


@transaction.atomic
def advance_grant(*, party: Party, amount: Decimal, effective_date: date, key: str) -> Transaction:
    """Pay a party an advance: it becomes an asset that the party's earnings recoup first."""
    profile = PayeeProfile.objects.filter(party=party).first()
    currency = profile.currency if profile else party.label.default_currency
    if amount <= 0 or not is_quantized(amount, currency):
        raise RoyaltyError(f"an advance must be a positive {currency} amount")
    accounts = accounts_ensure(
        specs=[chart.party_advance(party.pk, currency), chart.label_cash(party.label_id, currency)]
    )
    advance = accounts[(chart.party_advance(party.pk, currency).code, currency)]
    cash = accounts[(chart.label_cash(party.label_id, currency).code, currency)]
    return transaction_post(
        key=f"royalties:advance:{key}",
        postings=[PostingSpec(account=advance, amount=amount), PostingSpec(account=cash, amount=-amount)],
        effective_date=effective_date,
        memo=f"advance to {party}",
    )


# --- The monthly close ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodCloseResult:
    period: Period
    created: bool  # False when the period was already closed (a replay)


def period_close_blocker(*, label: Label, month: date) -> str | None:
    """Why a month cannot be closed now, or None: it has not ended, or an earlier month is still open
    (statements carry balances forward, so months close in order)."""
    end = Period(label=label, month=month).end
    if end >= timezone.now().date():
        return f"{month:%Y-%m} has not ended yet; usage for it may still arrive"
    earlier = Period.objects.filter(label=label, month__lt=month).exclude(status=PeriodStatus.CLOSED)
    first_open = earlier.order_by("month").first()
    if first_open is not None:
        return f"{first_open.code} of {label.slug} must be closed before {month:%Y-%m}"
    return None


def period_close(*, label: Label, period: str | date, closed_by=None) -> PeriodCloseResult:
    """Close a label's month: price its usage, post the ledger, issue settlements and statements.

    Idempotent and resumable. Two transactions, on purpose rather than the usual one: the first marks
    the period `closing` (visible, and from then on ingestion into the month is refused); the second
    takes the period's row lock and does all the work, so concurrent closes queue on the lock and find
    the period closed, and a close killed half-way leaves nothing behind but the `closing` mark, from
    which the next run starts again.
    """
    month = parse_period(period)
    with transaction.atomic():
        row, _ = Period.objects.get_or_create(label=label, month=month)
        if row.status != PeriodStatus.CLOSED:
            blocker = period_close_blocker(label=label, month=month)
            if blocker:
                raise CloseBlocked(blocker)
        row = Period.objects.select_for_update().get(pk=row.pk)
        if row.status == PeriodStatus.OPEN:
            row.status = PeriodStatus.CLOSING
            row.closing_started_at = timezone.now()
            row.save(update_fields=["status", "closing_started_at"])
    with transaction.atomic():
        row = Period.objects.select_for_update().select_related("label").get(pk=row.pk)
        if row.status == PeriodStatus.CLOSED:
            return PeriodCloseResult(period=row, created=False)
        started = timezone.now()
        with collector_paused():
            plan = close_compute(row)
            summary = close_write(plan)
        summary["seconds"] = round((timezone.now() - started).total_seconds(), 3)
        row.status = PeriodStatus.CLOSED
        row.closed_at = timezone.now()
        row.closed_by = closed_by
        row.summary = summary
        row.save(update_fields=["status", "closed_at", "closed_by", "summary"])
        audit_record(
            label=label,
            actor=closed_by,
            action="period.closed",
            obj=row,
            summary=f"{row.code} closed: {summary.get('statements', 0)} statements, "
            f"{summary.get('allocations', 0)} clip allocations in {summary['seconds']} s",
            data={"currencies": summary.get("currencies", {})},
        )
        logger.info("closed %s %s: %s", label.slug, row.code, summary)
        return PeriodCloseResult(period=row, created=True)


# --- Payouts --------------------------------------------------------------------------------------


@transaction.atomic
def payout_batch_create(*, label: Label, currency: str, created_by=None) -> PayoutBatch | None:
    """A batch paying each party what it is owed now, when that reaches the threshold.

    Owed now = the party's payable balance in the ledger minus payout lines still pending, so a balance
    already in a pending batch is never paid twice, whatever statements were issued since. Each line
    points at the party's latest closed statement (one live line per statement). Returns None when
    nobody is due. Given bank details were validated (python-stdnum) when entered.
    """
    # Lock the label's batches so two concurrent creations cannot both list the same balance.
    list(PayoutBatch.objects.select_for_update().filter(label=label).values_list("pk", flat=True))
    latest: dict[int, Statement] = {}
    for statement in (
        Statement.objects.filter(period__label=label, period__status=PeriodStatus.CLOSED, currency=currency)
        .select_related("period")
        .order_by("party_id", "period__month")
    ):
        latest[statement.party_id] = statement
    if not latest:
        return None
    codes = [chart.party_payable(party_id, currency).code for party_id in latest]
    balances = balances_for_codes(codes=codes)
    pending: dict[int, Decimal] = defaultdict(Decimal)
    for party_id, amount in PayoutLine.objects.filter(
        batch__label=label, currency=currency, status=PayoutStatus.PENDING
    ).values_list("party_id", "amount"):
        pending[party_id] += amount
    live = set(
        PayoutLine.objects.filter(statement__in=latest.values())
        .exclude(status=PayoutStatus.VOIDED)
        .values_list("statement_id", flat=True)
    )
    due: list[tuple[Statement, Decimal]] = []
    for party_id, statement in sorted(latest.items()):
        owed = -balances.get((chart.party_payable(party_id, currency).code, currency), Decimal(0))
        amount = owed - pending[party_id]
        if statement.pk not in live and amount > 0 and amount >= statement.payout_threshold:
            due.append((statement, amount))
    if not due:
        return None
    batch = PayoutBatch.objects.create(label=label, currency=currency, created_by=created_by)
    profiles = {p.party_id: p for p in PayeeProfile.objects.filter(party_id__in=[s.party_id for s, _ in due])}
    PayoutLine.objects.bulk_create(
        [
            PayoutLine(
                batch=batch,
                party_id=statement.party_id,
                statement=statement,
                amount=amount,
                currency=currency,
                iban=profiles[statement.party_id].iban if statement.party_id in profiles else "",
                bic=profiles[statement.party_id].bic if statement.party_id in profiles else "",
            )
            for statement, amount in due
        ]
    )
    return batch


def _payout_accounts(line: PayoutLine):
    payable = chart.party_payable(line.party_id, line.currency)
    cash = chart.label_cash(line.batch.label_id, line.currency)
    found = accounts_ensure(specs=[payable, cash])
    return found[(payable.code, line.currency)], found[(cash.code, line.currency)]


@transaction.atomic
def payout_batch_mark_paid(*, batch: PayoutBatch, paid_on: date | None = None) -> PayoutBatch:
    """Mark a pending batch paid: each pending line posts payable against cash (idempotent per line)."""
    batch = PayoutBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.status == PayoutStatus.PAID:
        return batch
    if batch.status != PayoutStatus.PENDING:
        raise PayoutStateConflict(f"payout batch {batch.pk} is {batch.status}")
    paid_on = paid_on or timezone.now().date()
    now = timezone.now()
    for line in batch.lines.filter(status=PayoutStatus.PENDING).select_related("batch"):
        payable, cash = _payout_accounts(line)
        transaction_post(
            key=f"royalties:payout:{line.pk}",
            postings=[
                PostingSpec(account=payable, amount=line.amount),
                PostingSpec(account=cash, amount=-line.amount),
            ],
            effective_date=paid_on,
            memo=f"payout batch {batch.pk} to party {line.party_id}",
        )
    batch.lines.filter(status=PayoutStatus.PENDING).update(status=PayoutStatus.PAID, paid_at=now)
    batch.status = PayoutStatus.PAID
    batch.paid_at = now
    batch.save(update_fields=["status", "paid_at"])
    return batch


@transaction.atomic
def payout_line_void(*, line: PayoutLine, reason: str, voided_on: date | None = None) -> PayoutLine:
    """Void a batch line. A paid line is reversed in the ledger; the line itself is never edited."""
    line = PayoutLine.objects.select_for_update().select_related("batch").get(pk=line.pk)
    if line.status == PayoutStatus.VOIDED:
        return line
    if not reason:
        raise PayoutInvalid("voiding a payout needs a reason")
    if line.status == PayoutStatus.PAID:
        original = Transaction.objects.get(key=f"royalties:payout:{line.pk}")
        transaction_reverse(
            original=original,
            key=f"royalties:payout:{line.pk}:void",
            effective_date=voided_on or timezone.now().date(),
            memo=f"void payout {line.pk}: {reason}"[:500],
        )
    line.status = PayoutStatus.VOIDED
    line.voided_at = timezone.now()
    line.void_reason = reason[:300]
    line.save(update_fields=["status", "voided_at", "void_reason"])
    return line
