"""The month, following the money: one selector that every page showing a closed period's figures reads.

`period_month(period=...)` walks a closed period from the revenue partners reported to what each payout
batch paid, in the order the close moved the money (royalties.close): revenue x deal rate = pools; the
deals' label share; the attributed pool and the pro-rata pool; what is held on clips that wait for a
person (each clip with its reason); what the parties earned by shares, pro rata and by adjustments; FX,
withholding and advance recoupment; each party's closing balance, what stays below the payout threshold,
and what the payout batches paid of it.

Rounded figures (receivables, party totals, the label's part, holds) are read from what the close wrote
(the period summary, settlements, allocations, statements), never recomputed, so the dashboard, the period
page, statements and payouts show the same cents. Exact figures (line sums) are shown rounded for reading,
and the walk states the rounding that makes them meet the rounded totals.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Max, Q, Sum

from fingerprinting.models import ReviewState
from ledger.money import money_quantize
from royalties.models import (
    MONEY_PLACES,
    AllocationKind,
    ClipAllocation,
    Deal,
    PayoutLine,
    PayoutStatus,
    Period,
    PeriodStatus,
    Statement,
    StatementLine,
    StatementLineKind,
)

ZERO = Decimal(0)
# Held clips listed on the page; the CSV lists them all. A month with more held clips than this says how
# many more there are (the review queue sorts them by money).
HELD_SHOWN = 100
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
# Party rows rendered on the page by default (the totals always cover every statement): a label with
# thousands of payees would otherwise send a table of thousands of rows; ?parties=all shows them all.
PARTIES_SHOWN = 100


def _money(value, currency: str) -> Decimal:
    """A sum read back from the database as money in `currency` (SQLite sums decimals as floats)."""
    return money_quantize(Decimal(str(value or 0)), currency)


@dataclass(frozen=True)
class RevenueRow:
    """What one partner reported under one deal, and the pool the deal's rate made of it."""

    partner: str
    deal: str
    rate: Decimal
    label_share: Decimal
    attributed_fraction: Decimal
    currency: str  # the deal's currency (revenue converted into it at the period's rate table)
    revenue: Decimal
    pool: Decimal


@dataclass(frozen=True)
class HeldClip:
    clip_id: int
    external_id: str
    currency: str
    amount: Decimal  # the rounded amount held in suspense for the clip
    reason: str
    kind: str  # usage of the month, or a revision of an earlier month


@dataclass
class CurrencyMoney:
    """One deal currency's month. Rounded identity (the close's one balanced transaction):
    receivable + released = parties + label + held."""

    currency: str
    revenue: Decimal = ZERO  # exact, converted into the deal currency
    pool: Decimal = ZERO  # exact: revenue x rate
    voice_fees: Decimal = ZERO  # exact: flat-rate voice fees (rate x uses), owed on top of the pools
    receivable: Decimal = ZERO  # rounded: what the partners owe (sum of settlements)
    released: Decimal = ZERO  # rounded: held in earlier months, released this month
    label_share: Decimal = ZERO  # exact: the deals' label share of the pools
    attributed_pool: Decimal = ZERO  # exact: the part paid by clips' attribution shares
    pro_rata_pool: Decimal = ZERO  # exact: the deals' pro-rata part (before unattributed remainders)
    held: Decimal = ZERO  # rounded: put in suspense this month
    held_clips: int = 0
    paid_by_shares: Decimal = ZERO  # exact: earning lines
    paid_pro_rata: Decimal = ZERO  # exact: pro-rata lines
    adjustments: Decimal = ZERO  # exact: revisions of earlier months
    paid_voice: Decimal = ZERO  # exact: voice lines (voice models' pool shares and flat fees)
    parties: Decimal = ZERO  # rounded: what the parties were credited in this currency
    label: Decimal = ZERO  # rounded: everything the label keeps (share, unsplit rights, composition master)

    @property
    def parties_rounding(self) -> Decimal:
        """Rounded party total minus the exact line sums (the largest-remainder rounding, a few cents)."""
        return self.parties - (self.paid_by_shares + self.paid_pro_rata + self.adjustments + self.paid_voice)

    @property
    def balanced(self) -> bool:
        return self.receivable + self.released == self.parties + self.label + self.held


@dataclass
class PartyRow:
    statement_id: int
    number: str
    party_id: int
    party: str
    currency: str
    opening: Decimal
    earnings: Decimal
    adjustments: Decimal
    withholding: Decimal
    recouped: Decimal
    payouts: Decimal  # payouts made during the period
    closing: Decimal
    threshold: Decimal
    carried_forward: bool
    batched: Decimal = ZERO  # paid or pending in payout batches (not voided)


@dataclass
class StatementTotals:
    """The parties' statements in one statement currency, added up."""

    currency: str
    statements: int = 0
    opening: Decimal = ZERO
    earnings: Decimal = ZERO
    adjustments: Decimal = ZERO
    fx: Decimal = ZERO
    withholding: Decimal = ZERO
    recouped: Decimal = ZERO
    payouts: Decimal = ZERO
    closing: Decimal = ZERO
    carried_forward: Decimal = ZERO
    carried_forward_count: int = 0
    threshold: Decimal | None = None
    batched: Decimal = ZERO

    negative: Decimal = ZERO  # closing balances below zero (owed back by a party), never paid out

    @property
    def due(self) -> Decimal:
        """Closing balances that are payable: positive and not carried forward."""
        return self.closing - self.carried_forward - self.negative

    @property
    def not_yet_batched(self) -> Decimal:
        return self.due - self.batched


@dataclass(frozen=True)
class BatchRow:
    batch_id: int
    status: str
    currency: str
    lines: int
    amount: Decimal  # of this period's statements, voided lines excluded


@dataclass
class PeriodMonth:
    period: Period
    revenue: list[RevenueRow] = field(default_factory=list)
    currencies: list[CurrencyMoney] = field(default_factory=list)
    held: list[HeldClip] = field(default_factory=list)  # the first HELD_SHOWN, most money first
    held_total_count: int = 0
    parties: list[PartyRow] = field(default_factory=list)  # the first ones asked for
    party_count: int = 0  # statements in the period
    statement_totals: list[StatementTotals] = field(default_factory=list)
    batches: list[BatchRow] = field(default_factory=list)

    def currency(self, code: str) -> CurrencyMoney | None:
        return next((c for c in self.currencies if c.currency == code), None)

    def statement_total(self, code: str) -> StatementTotals | None:
        return next((t for t in self.statement_totals if t.currency == code), None)


def held_reason(review_state: str | None, reasons: list | None) -> str:
    """Why a clip's money waits, in words: the engine's review reasons, a dispute, or no attribution."""
    if review_state is None:
        return "no attribution yet"
    if review_state == ReviewState.DISPUTED:
        return "disputed"
    messages = [str(r.get("message") or r.get("code")) for r in (reasons or []) if isinstance(r, dict)]
    return "; ".join(messages) if messages else "waiting for review"


def _revenue(period: Period, month: PeriodMonth) -> dict[str, Decimal]:
    """The revenue rows; returns what the partners owe per currency (the settlements' rounded sums)."""
    deals = {d.pk: d for d in Deal.objects.filter(label_id=period.label_id)}
    due: dict[str, Decimal] = defaultdict(Decimal)
    for settlement in period.settlements.select_related("partner").order_by("partner__name", "currency"):
        due[settlement.currency] += settlement.amount_due
        for detail in settlement.detail:
            deal = deals[detail["deal"]]
            month.revenue.append(
                RevenueRow(
                    partner=settlement.partner.name,
                    deal=str(deal),
                    rate=deal.royalty_rate,
                    label_share=deal.label_share,
                    attributed_fraction=deal.attributed_fraction,
                    currency=settlement.currency,
                    revenue=Decimal(detail["revenue"]),
                    pool=Decimal(detail["pool"]),
                )
            )
    return due


def _currencies(
    period: Period, month: PeriodMonth, due: dict[str, Decimal], sums: list[tuple[str, str, Decimal]]
) -> dict[str, CurrencyMoney]:
    books: dict[str, CurrencyMoney] = {}

    def book(currency: str) -> CurrencyMoney:
        if currency not in books:
            books[currency] = CurrencyMoney(currency)
        return books[currency]

    for row in month.revenue:
        b = book(row.currency)
        b.revenue += row.revenue
        b.pool += row.pool
    for currency, amount in due.items():
        book(currency).receivable = money_quantize(amount, currency)
    for currency, figures in (period.summary or {}).get("currencies", {}).items():
        b = book(currency)
        b.released = Decimal(figures.get("released", "0"))
        b.parties = Decimal(figures.get("parties", "0"))
        b.label = Decimal(figures.get("label", "0"))
        b.held = Decimal(figures.get("held", "0"))
        b.label_share = Decimal(figures.get("label_share_exact", "0"))
        b.voice_fees = Decimal(figures.get("voice_fees_exact", "0"))
    for currency, figures in (period.summary or {}).get("currencies", {}).items():
        if "attributed_pool_exact" in figures:
            book(currency).attributed_pool = Decimal(figures["attributed_pool_exact"])
            book(currency).held_clips = int(figures["held_clips"])
    written = all("attributed_pool_exact" in f for f in (period.summary or {}).get("currencies", {}).values())
    usage = (
        ClipAllocation.objects.none()
        if written and books
        else ClipAllocation.objects.filter(period=period, kind=AllocationKind.USAGE)
        .values_list("currency")
        .annotate(
            attributed=Sum("attributed_exact"),
            held_clips=Count("id", filter=~Q(held_amount=0)),
        )
    )
    for currency, attributed, held_clips in usage:
        b = book(currency)
        b.attributed_pool = Decimal(str(attributed or 0))
        b.held_clips = held_clips
    for b in books.values():
        b.pro_rata_pool = b.pool - b.label_share - b.attributed_pool
    kinds = {
        StatementLineKind.EARNING: "paid_by_shares",
        StatementLineKind.PRO_RATA: "paid_pro_rata",
        StatementLineKind.ADJUSTMENT: "adjustments",
        StatementLineKind.VOICE: "paid_voice",
    }
    for currency, kind, total in sums:
        if kind in kinds:
            setattr(book(currency), kinds[kind], total)
    return books


def line_sums(period: Period) -> list[tuple[str, str, Decimal]]:
    """(currency, line kind, exact sum) of the period's statement lines: from the close's summary, or
    added up for a period closed before the summary held them."""
    written = (period.summary or {}).get("lines_exact")
    if written is not None:
        return [(c, kind, Decimal(v)) for c, kinds in written.items() for kind, v in kinds.items()]
    rows = (
        StatementLine.objects.filter(statement__period=period)
        .values_list("currency", "kind")
        .annotate(total=Sum("amount_exact"))
    )
    return [(currency, kind, Decimal(str(total or 0))) for currency, kind, total in rows]


def held_clips(*, period: Period):
    """Every clip whose money the period's close held, most money first: (clip id, external id,
    currency, held amount, review state and reasons of the attribution the close saw, allocation kind,
    whether a person has reviewed the clip since)."""
    return (
        ClipAllocation.objects.filter(period=period)
        .exclude(held_amount=0)
        .annotate(
            external_id=F("clip__external_id"),
            review_state=F("attribution__review_state"),
            reasons=F("attribution__review_reasons"),
            reviewed_since=~Q(clip__current_attribution_id=F("attribution_id")),
        )
        .order_by("-held_amount", "clip_id")
        .values_list(
            "clip_id", "external_id", "currency", "held_amount", "review_state", "reasons", "kind",
            "reviewed_since",
        )
    )  # fmt: skip


def held_clip(row: tuple) -> HeldClip:
    clip_id, external_id, currency, amount, state, reasons, kind, reviewed_since = row
    reason = held_reason(state, reasons)
    if reviewed_since:
        reason += " (reviewed since: released at the next close)"
    return HeldClip(clip_id, external_id, currency, _money(amount, currency), reason, kind)


def _held(period: Period, month: PeriodMonth) -> None:
    rows = held_clips(period=period)
    first = list(rows[: HELD_SHOWN + 1])  # one more than shown: counted only when there are more
    month.held = [held_clip(row) for row in first[:HELD_SHOWN]]
    held = ClipAllocation.objects.filter(period=period).exclude(held_amount=0)
    month.held_total_count = len(first) if len(first) <= HELD_SHOWN else held.count()


def _statement_totals(period: Period, sums: list[tuple[str, str, Decimal]]) -> list[StatementTotals]:
    """Per statement currency, every statement of the period added up in the database."""
    money_sum = {
        "opening": Sum("opening_balance"), "earnings": Sum("earnings"), "adjustments": Sum("adjustments"),
        "withholding": Sum("withholding"), "recouped": Sum("recouped"), "payouts": Sum("payouts"),
        "closing": Sum("closing_balance"),
        "carried_forward": Sum("closing_balance", filter=Q(carried_forward=True)),
        "negative": Sum("closing_balance", filter=Q(carried_forward=False, closing_balance__lt=0)),
    }  # fmt: skip
    rows = (
        Statement.objects.filter(period=period)
        .values("currency")
        .annotate(
            statements=Count("id"),
            carried_forward_count=Count("id", filter=Q(carried_forward=True)),
            threshold=Max("payout_threshold"),
            **{f"sum_{name}": total for name, total in money_sum.items()},  # not a Statement field's name
        )
        .order_by("currency")
    )
    batched = dict(
        PayoutLine.objects.filter(statement__period=period)
        .exclude(status=PayoutStatus.VOIDED)
        .values_list("currency")
        .annotate(total=Sum("amount"))
    )
    totals: dict[str, StatementTotals] = {}
    for row in rows:
        c = row["currency"]
        t = totals[c] = StatementTotals(c, statements=row["statements"], threshold=row["threshold"])
        t.carried_forward_count = row["carried_forward_count"]
        for name in money_sum:
            setattr(t, name, _money(row[f"sum_{name}"], c))
        t.batched = _money(batched.get(c, 0), c)
    # FX lines in a currency: converted into it (statements in that currency) minus converted out of it.
    for currency, kind, total in sums:
        if kind == StatementLineKind.FX:
            totals.setdefault(currency, StatementTotals(currency)).fx += total
    return [totals[c] for c in sorted(totals)]


def _parties(period: Period, month: PeriodMonth, limit: int | None) -> None:
    """The statements' rows in number order, the first `limit` (all with None). Read as tuples: the CSV
    asks for every statement, and thousands of model instances cost more than the query."""
    fields = (
        "pk", "number", "party_id", "party__name", "currency", "opening_balance", "earnings", "adjustments",
        "withholding", "recouped", "payouts", "closing_balance", "payout_threshold", "carried_forward",
    )  # fmt: skip
    statements = Statement.objects.filter(period=period).order_by("number").values_list(*fields)
    month.party_count = Statement.objects.filter(period=period).count() if limit is not None else 0
    chosen = list(statements if limit is None else statements[:limit])
    month.party_count = month.party_count or len(chosen)
    of_rows = (
        {"statement__period": period} if limit is None else {"statement__in": [row[0] for row in chosen]}
    )
    batched = dict(
        PayoutLine.objects.filter(**of_rows)
        .exclude(status=PayoutStatus.VOIDED)
        .values_list("statement_id")
        .annotate(total=Sum("amount"))
    )
    for row in chosen:
        pk, currency = row[0], row[4]
        month.parties.append(PartyRow(*row, batched=_money(batched.get(pk, 0), currency)))


def _batches(period: Period, month: PeriodMonth) -> None:
    rows = (
        PayoutLine.objects.filter(statement__period=period)
        .exclude(status=PayoutStatus.VOIDED)
        .values_list("batch_id", "batch__status", "currency")
        .annotate(lines=Count("id"), total=Sum("amount"))
        .order_by("batch_id", "currency")
    )
    for batch_id, status, currency, lines, total in rows:
        month.batches.append(BatchRow(batch_id, status, currency, lines, _money(total, currency)))


def period_month(*, period: Period, parties: int | None = None, held: bool = True) -> PeriodMonth:
    """The closed period's money, from revenue to payouts (the module docstring), with the first
    `parties` statements as rows (all with None; the totals always cover all) and, unless `held` is
    False, the held clips (their totals are in `currencies` either way). An open period has no figures
    yet: an empty walk."""
    month = PeriodMonth(period=period)
    if period.status != PeriodStatus.CLOSED:
        return month
    due = _revenue(period, month)
    sums = line_sums(period)
    books = _currencies(period, month, due, sums)
    month.currencies = [books[c] for c in sorted(books)]
    if held:
        _held(period, month)
    month.statement_totals = _statement_totals(period, sums)
    _parties(period, month, parties)
    _batches(period, month)
    return month


def party_credits(month: PeriodMonth, currency: str) -> Decimal:
    """What the statements in `currency` credited for the month: the rounded party total of that currency
    plus FX lines (conversions in minus out). Equals the statements' earnings + adjustments to the cent."""
    book = month.currency(currency)
    totals = month.statement_total(currency)
    return (book.parties if book else ZERO) + (totals.fx if totals else ZERO)


def dashboard_money(month: PeriodMonth) -> list[dict]:
    """The dashboard's money card, per currency, from the month selector (same cents as the month page)."""
    out = []
    for c in month.currencies:
        out.append(
            {
                "currency": c.currency,
                "pool": c.pool,
                "receivable": c.receivable,
                "attributed_pool": c.attributed_pool,
                "paid_by_shares": c.paid_by_shares,
                "paid_pro_rata": c.paid_pro_rata,
                "adjustments": c.adjustments,
                "held": c.held,
                "held_clips": c.held_clips,
                "label": c.label,
                "parties": c.parties,
                "percent": float(100 * c.paid_by_shares / c.pool) if c.pool else 0.0,
            }
        )
    return out
