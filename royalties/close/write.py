"""Writing a close, in named steps: the plan (royalties.close.compute) becomes ledger postings, allocations,
settlements and statements, in the caller's transaction (royalties.services.period_close).

    1. round_currencies              each currency's month rounded by largest remainder, both sides
    2. party_totals                  each party's amounts in its statement currency (FX conversions)
    3. post_allocation               one balanced transaction per currency
    4. post_fx                       converted party totals through the clearing accounts, per pair
    5. party_figures                 opening balance, withholding tax, advance recoupment, payouts, closing
       post_withholding_and_recoupment
    6. build_statements              statements and the lines that are not usage (FX, tax, recoupment, payouts)
    7. write_explanations            allocations, settlements, statements and their lines (COPY)

Steps 1, 2, 5 (figures) and 6 compute only, from what they are given; 3, 4, 5 (posting) and 7 write.
"""

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext

from django.db.models import Max
from django.utils import timezone

from ledger.models import Account
from ledger.money import EXACT, allocate_largest_remainder, money_quantize
from ledger.selectors import balances_for_codes
from ledger.services import AccountSpec, PostingSpec, accounts_ensure, transaction_post
from royalties import accounts as chart
from royalties.bulk import bulk_insert
from royalties.close.compute import MASTER, PUBLISHING
from royalties.close.plan import (
    LABEL_KEY,
    SUSPENSE_KEY,
    ZERO,
    ClosePlan,
    LineKey,
    LineTotal,
    party_key,
)
from royalties.models import (
    EXACT_PLACES,
    AllocationKind,
    ClipAllocation,
    LabelRoyaltySettings,
    PartnerSettlement,
    PayeeProfile,
    Period,
    Statement,
    StatementLine,
    StatementLineKind,
)

EXACT_QUANTUM = Decimal(1).scaleb(-EXACT_PLACES)


def exact_store(value: Decimal) -> Decimal:
    """Exact amounts are stored with EXACT_PLACES places (far below any minor unit)."""
    return EXACT.quantize(value, EXACT_QUANTUM)  # a context method: no context switch per call


def _key(prefix: str, period: Period) -> str:
    return f"royalties:close:{period.label_id}:{period.code}:{prefix}"


# --- 1. rounding ----------------------------------------------------------------------------------


@dataclass
class RoundedCurrency:
    """One currency's month, rounded: both sides add up to `total` exactly."""

    currency: str
    total: Decimal
    sources: dict[tuple[str, int], Decimal]  # partner receivables and releases from suspense
    recipients: dict[tuple[str, int], Decimal]  # parties, the label, new holds
    # By id, split out once (read per party by later steps).
    receivables: dict[int, Decimal] = field(init=False)
    parties: dict[int, Decimal] = field(init=False)

    def __post_init__(self) -> None:
        self.receivables = {key[1]: amount for key, amount in self.sources.items() if key[0] == "partner"}
        self.parties = {key[1]: amount for key, amount in self.recipients.items() if key[0] == "party"}

    @property
    def label(self) -> Decimal:
        return self.recipients[LABEL_KEY]

    @property
    def held(self) -> Decimal:
        return self.recipients[SUSPENSE_KEY]

    @property
    def released(self) -> Decimal:
        return self.sources.get(SUSPENSE_KEY, ZERO)


def round_currencies(plan: ClosePlan) -> dict[str, RoundedCurrency]:
    """Per currency, T = round(pools + voice fees + releases) is allocated by largest remainder twice: over the
    sources and over the recipients, so the allocation posts as one balanced transaction. The held total
    is spread over the held clips the same way (`Allocation.held_amount`), so every held cent belongs to
    a clip."""
    rounded: dict[str, RoundedCurrency] = {}
    with localcontext(EXACT):
        for currency, book in sorted(plan.books.items()):
            total = money_quantize(sum(book.sources.values(), ZERO), currency)
            sources = allocate_largest_remainder(total, book.sources, currency) if book.sources else {}
            exact: dict[tuple[str, int], Decimal] = {party_key(p): v for p, v in book.parties.items()}
            exact[LABEL_KEY] = book.label
            exact[SUSPENSE_KEY] = sum(book.holds.values(), ZERO)
            recipients = allocate_largest_remainder(total, exact, currency)
            result = RoundedCurrency(currency, total, sources, recipients)
            if book.holds:
                for index, amount in allocate_largest_remainder(result.held, book.holds, currency).items():
                    plan.allocations[index].held_amount = amount
            rounded[currency] = result
    return rounded


def currency_summary(plan: ClosePlan, rounded: RoundedCurrency) -> dict[str, str]:
    """The period summary's figures for one currency (shown on the period page and the dashboard)."""
    book = plan.books[rounded.currency]
    usage = [a for a in plan.allocations if a.currency == rounded.currency and a.kind == AllocationKind.USAGE]
    held = sum(1 for a in plan.allocations if a.currency == rounded.currency and a.held_amount)
    return {
        # The month page's attributed pool and held clips (royalties.month), without re-reading allocations.
        "attributed_pool_exact": str(exact_store(sum((a.attributed_exact for a in usage), ZERO))),
        "held_clips": str(held),
        "pools_exact": str(book.pools),
        "receivable": str(sum(rounded.receivables.values(), ZERO)),
        "released": str(rounded.released),
        "parties": str(sum(rounded.parties.values(), ZERO)),
        "label": str(rounded.label),
        "held": str(rounded.held),
        # Exact: what went to master and to publishing (splits, or the label where a recording has no
        # split of that right), the deals' label share, the master part of composition shares kept.
        "master_exact": str(exact_store(book.by_right.get(MASTER, ZERO))),
        "publishing_exact": str(exact_store(book.by_right.get(PUBLISHING, ZERO))),
        "label_share_exact": str(exact_store(book.label_part)),
        "composition_kept_exact": str(exact_store(book.composition_kept)),
        "voice_exact": str(exact_store(book.voice)),
        "voice_fees_exact": str(exact_store(book.voice_fees)),
    }


# --- 2. party totals in their statement currencies ----------------------------------------------


@dataclass(frozen=True)
class Conversion:
    source_currency: str
    amount: Decimal  # rounded, in the source currency
    rate: Decimal
    converted: Decimal  # rounded, in the statement currency


@dataclass
class PartyTotals:
    party_id: int
    currency: str  # the statement currency
    earnings: Decimal = ZERO
    adjustments: Decimal = ZERO
    conversions: list[Conversion] = field(default_factory=list)


def party_totals(
    plan: ClosePlan,
    rounded: dict[str, RoundedCurrency],
    *,
    profiles: dict[int, PayeeProfile],
    previous: dict[int, Statement],
) -> dict[int, PartyTotals]:
    """Each party's rounded amounts, converted once per source currency into its statement currency
    (its payee profile's, or the label's). Parties with nothing this month but a balance carried from
    before, or money held this month (outside the licence, awaiting review), get a statement too: the
    statement shows what was held (royalties.selectors.statement_held), so the label can show the artist."""
    default_currency = plan.period.label.default_currency
    party_ids = {pid for r in rounded.values() for pid in r.parties}
    party_ids |= {pid for pid, st in previous.items() if st.closing_balance}
    party_ids |= plan.held_parties
    totals: dict[int, PartyTotals] = {}
    with localcontext(EXACT):
        for party_id in sorted(party_ids):
            profile = profiles.get(party_id)
            pt = PartyTotals(party_id=party_id, currency=profile.currency if profile else default_currency)
            for source_currency, amounts in rounded.items():
                amount = amounts.parties.get(party_id, ZERO)
                if not amount:
                    continue
                adjustment = money_quantize(
                    plan.books[source_currency].party_adjustments.get(party_id, ZERO), source_currency
                )
                if source_currency == pt.currency:
                    converted, converted_adjustment = amount, adjustment
                else:
                    rate = plan.fx.rate(source_currency, pt.currency)
                    converted = money_quantize(amount * rate, pt.currency)
                    converted_adjustment = money_quantize(adjustment * rate, pt.currency)
                    pt.conversions.append(Conversion(source_currency, amount, rate, converted))
                pt.earnings += converted - converted_adjustment
                pt.adjustments += converted_adjustment
            totals[party_id] = pt
    return totals


# --- ledger accounts ----------------------------------------------------------------------------


class CloseAccounts:
    """The ledger accounts a close posts to, fetched or created in one query for all it knows it needs;
    rare ones (a party's advance) are fetched when first asked for."""

    def __init__(self, specs: Iterable[AccountSpec]):
        self._accounts = accounts_ensure(specs=specs)

    def __call__(self, spec: AccountSpec) -> Account:
        key = (spec.code, spec.currency)
        if key not in self._accounts:
            self._accounts.update(accounts_ensure(specs=[spec]))
        return self._accounts[key]

    @classmethod
    def for_close(
        cls, plan: ClosePlan, rounded: dict[str, RoundedCurrency], totals: dict[int, PartyTotals]
    ) -> "CloseAccounts":
        label_id = plan.period.label_id
        specs: list[AccountSpec] = []
        for currency, r in rounded.items():
            specs += [chart.partner_receivable(pid, label_id, currency) for pid in r.receivables]
            specs += [chart.party_payable(pid, currency) for pid in r.parties]
            specs += [chart.label_share(label_id, currency), chart.label_suspense(label_id, currency)]
        for pt in totals.values():
            for conversion in pt.conversions:
                specs += [
                    chart.label_fx_clearing(label_id, conversion.source_currency),
                    chart.label_fx_clearing(label_id, pt.currency),
                ]
            # No advance account here: only parties that were granted one have a balance to recoup.
            specs += [
                chart.party_payable(pt.party_id, pt.currency),
                chart.label_withholding(label_id, pt.currency),
            ]
        return cls(specs)


# --- 3. the allocation --------------------------------------------------------------------------


def post_allocation(plan: ClosePlan, rounded: dict[str, RoundedCurrency], accounts: CloseAccounts) -> None:
    """One transaction per currency: partner receivables and releases from suspense (debits) against
    party payables, the label's share and new holds (credits)."""
    period, label_id = plan.period, plan.period.label_id
    for currency, r in sorted(rounded.items()):
        postings = [
            PostingSpec(
                account=accounts(chart.partner_receivable(partner_id, label_id, currency)), amount=amount
            )
            for partner_id, amount in sorted(r.receivables.items())
            if amount
        ]
        suspense_net = r.released - r.held
        if suspense_net:
            postings.append(
                PostingSpec(account=accounts(chart.label_suspense(label_id, currency)), amount=suspense_net)
            )
        postings += [
            PostingSpec(account=accounts(chart.party_payable(party_id, currency)), amount=-amount)
            for party_id, amount in sorted(r.parties.items())
            if amount
        ]
        if r.label:
            postings.append(
                PostingSpec(account=accounts(chart.label_share(label_id, currency)), amount=-r.label)
            )
        if len(postings) >= 2:
            transaction_post(
                key=_key(f"allocation:{currency}", period),
                postings=postings,
                effective_date=period.end,
                memo=f"royalty allocation {period.label.slug} {period.code} {currency}",
            )


# --- 4. FX --------------------------------------------------------------------------------------


def post_fx(plan: ClosePlan, totals: dict[int, PartyTotals], accounts: CloseAccounts) -> None:
    """Each converted party total through the clearing accounts, one transaction per currency pair:
    debit the party's payable in the source currency, credit it in the statement currency."""
    period, label_id = plan.period, plan.period.label_id
    by_pair: dict[tuple[str, str], list[tuple[int, Conversion]]] = defaultdict(list)
    for pt in totals.values():
        for conversion in pt.conversions:
            by_pair[(conversion.source_currency, pt.currency)].append((pt.party_id, conversion))
    for (base, quote), rows in sorted(by_pair.items()):
        postings = []
        for party_id, conversion in rows:
            postings.append(
                PostingSpec(account=accounts(chart.party_payable(party_id, base)), amount=conversion.amount)
            )
            if conversion.converted:
                postings.append(
                    PostingSpec(
                        account=accounts(chart.party_payable(party_id, quote)), amount=-conversion.converted
                    )
                )
        base_total = sum((c.amount for _, c in rows), ZERO)
        quote_total = sum((c.converted for _, c in rows), ZERO)
        if base_total:
            postings.append(
                PostingSpec(account=accounts(chart.label_fx_clearing(label_id, base)), amount=-base_total)
            )
        if quote_total:
            postings.append(
                PostingSpec(account=accounts(chart.label_fx_clearing(label_id, quote)), amount=quote_total)
            )
        transaction_post(
            key=_key(f"fx:{base}:{quote}", period),
            postings=postings,
            effective_date=period.end,
            memo=f"FX {base}->{quote}",
        )


# --- 5. withholding tax and advance recoupment ---------------------------------------------------


@dataclass(frozen=True)
class PartyFigures:
    """The figures of one party's statement, in its statement currency."""

    party_id: int
    currency: str
    opening: Decimal
    earnings: Decimal
    adjustments: Decimal
    withholding: Decimal
    withholding_rate: Decimal
    outstanding_advance: Decimal
    recouped: Decimal
    paid: Decimal  # payouts made during the period
    threshold: Decimal

    @property
    def closing(self) -> Decimal:
        return self.opening + self.earnings + self.adjustments - self.withholding - self.recouped - self.paid

    @property
    def carried_forward(self) -> bool:
        return ZERO < self.closing < self.threshold


@dataclass(frozen=True)
class LedgerFigures:
    """What the ledger says about the parties before this close's withholding and recoupment."""

    advances: dict[tuple[str, str], Decimal]  # (advance account code, currency) -> outstanding
    payouts: dict[tuple[str, str], Decimal]  # (payable account code, currency) -> paid during the period

    @classmethod
    def load(cls, period: Period, totals: dict[int, PartyTotals]) -> "LedgerFigures":
        parties = [(pid, pt.currency) for pid, pt in sorted(totals.items())]
        return cls(
            advances=balances_for_codes(
                codes=[chart.party_advance(pid, c).code for pid, c in parties], as_of=period.end
            ),
            payouts=balances_for_codes(
                codes=[chart.party_payable(pid, c).code for pid, c in parties],
                key_prefix="royalties:payout:",
                since=period.start,
                as_of=period.end,
            ),
        )


def party_figures(
    plan: ClosePlan,
    totals: dict[int, PartyTotals],
    *,
    profiles: dict[int, PayeeProfile],
    previous: dict[int, Statement],
    ledger: LedgerFigures,
    threshold: Decimal,
) -> list[PartyFigures]:
    """Withholding: round((earnings + adjustments) x rate) when positive. Recoupment: an outstanding
    advance is recouped first from the month's net earnings. The payout threshold is in the label's
    currency, converted to each statement currency."""
    default_currency = plan.period.label.default_currency
    figures = []
    with localcontext(EXACT):
        for party_id, pt in sorted(totals.items()):
            currency = pt.currency
            profile = profiles.get(party_id)
            rate = profile.withholding_rate if profile else ZERO
            base = pt.earnings + pt.adjustments
            withholding = money_quantize(base * rate, currency) if rate and base > 0 else ZERO
            outstanding = ledger.advances.get((chart.party_advance(party_id, currency).code, currency), ZERO)
            prev = previous.get(party_id)
            figures.append(
                PartyFigures(
                    party_id=party_id,
                    currency=currency,
                    opening=prev.closing_balance if prev and prev.currency == currency else ZERO,
                    earnings=pt.earnings,
                    adjustments=pt.adjustments,
                    withholding=withholding,
                    withholding_rate=rate,
                    outstanding_advance=outstanding,
                    recouped=max(ZERO, min(outstanding, base - withholding)),
                    paid=ledger.payouts.get((chart.party_payable(party_id, currency).code, currency), ZERO),
                    threshold=(
                        threshold
                        if currency == default_currency
                        else money_quantize(threshold * plan.fx.rate(default_currency, currency), currency)
                    ),
                )
            )
    return figures


def post_withholding_and_recoupment(
    plan: ClosePlan, figures: list[PartyFigures], accounts: CloseAccounts
) -> None:
    """Withholding: party payables (debit) against the label's withholding account, per currency.
    Recoupment: party payables (debit) against their advances, per currency."""
    period, label_id = plan.period, plan.period.label_id
    withholding: dict[str, list[PostingSpec]] = defaultdict(list)
    recoupment: dict[str, list[PostingSpec]] = defaultdict(list)
    for f in figures:
        if f.withholding:
            withholding[f.currency].append(
                PostingSpec(
                    account=accounts(chart.party_payable(f.party_id, f.currency)), amount=f.withholding
                )
            )
        if f.recouped:
            recoupment[f.currency] += [
                PostingSpec(account=accounts(chart.party_payable(f.party_id, f.currency)), amount=f.recouped),
                PostingSpec(
                    account=accounts(chart.party_advance(f.party_id, f.currency)), amount=-f.recouped
                ),
            ]
    for currency, postings in sorted(withholding.items()):
        total = sum((p.amount for p in postings), ZERO)
        postings.append(
            PostingSpec(account=accounts(chart.label_withholding(label_id, currency)), amount=-total)
        )
        transaction_post(
            key=_key(f"withholding:{currency}", period),
            postings=postings,
            effective_date=period.end,
            memo="withholding tax",
        )
    for currency, postings in sorted(recoupment.items()):
        transaction_post(
            key=_key(f"recoupment:{currency}", period),
            postings=postings,
            effective_date=period.end,
            memo="advances recouped",
        )


# --- 6. statements ------------------------------------------------------------------------------


@dataclass
class Statements:
    rows: list[Statement]
    # Lines that come from the statement figures rather than usage: FX, withholding, recoupment, payouts.
    extra_lines: list[tuple[LineKey, LineTotal]]


def _extra_line(
    party_id: int, kind: str, amount: Decimal, currency: str, reference: str
) -> tuple[LineKey, LineTotal]:
    return LineKey(party_id, kind, None, None, None, currency, reference, "", ""), LineTotal(amount, 0)


def build_statements(
    plan: ClosePlan, totals: dict[int, PartyTotals], figures: list[PartyFigures], *, issued_at: datetime
) -> Statements:
    """One statement per party, numbered in party order, and its lines that are not usage."""
    period = plan.period
    prefix = f"{period.label.slug.upper()}-{period.month:%Y%m}"
    rows, extra = [], []
    for n, f in enumerate(figures, start=1):
        rows.append(
            Statement(
                period=period,
                party_id=f.party_id,
                number=f"{prefix}-{n:05d}",
                currency=f.currency,
                opening_balance=f.opening,
                earnings=f.earnings,
                adjustments=f.adjustments,
                withholding=f.withholding,
                recouped=f.recouped,
                payouts=f.paid,
                closing_balance=f.closing,
                payout_threshold=f.threshold,
                carried_forward=f.carried_forward,
                issued_at=issued_at,
            )
        )
        for c in totals[f.party_id].conversions:
            extra.append(
                _extra_line(
                    f.party_id,
                    StatementLineKind.FX,
                    -c.amount,
                    c.source_currency,
                    f"converted to {f.currency} at {c.rate}",
                )
            )
            extra.append(
                _extra_line(
                    f.party_id,
                    StatementLineKind.FX,
                    c.converted,
                    f.currency,
                    f"from {c.amount} {c.source_currency} at {c.rate}",
                )
            )
        if f.withholding:
            extra.append(
                _extra_line(
                    f.party_id,
                    StatementLineKind.WITHHOLDING,
                    -f.withholding,
                    f.currency,
                    f"rate {f.withholding_rate * 100:.2f} %",
                )
            )
        if f.recouped:
            extra.append(
                _extra_line(
                    f.party_id,
                    StatementLineKind.RECOUPMENT,
                    -f.recouped,
                    f.currency,
                    f"advance outstanding {f.outstanding_advance}",
                )
            )
        if f.paid:
            extra.append(
                _extra_line(
                    f.party_id, StatementLineKind.PAYOUT, -f.paid, f.currency, "payouts in the period"
                )
            )
    return Statements(rows=rows, extra_lines=extra)


# --- 7. the explanations ------------------------------------------------------------------------

ALLOCATION_COLUMNS = [
    "period_id", "deal_id", "clip_id", "kind", "origin_id", "split_on", "currency", "usage_count",
    "pool_exact", "attributed_exact", "attribution_id", "payable", "held_amount", "is_current",
    "voice_held_exact",
]  # fmt: skip
LINE_COLUMNS = [
    "statement_id", "kind", "partner_id", "recording_id", "clip_id", "usage_count", "amount_exact",
    "currency", "reference", "right", "right_type",
]  # fmt: skip


def write_explanations(
    plan: ClosePlan, rounded: dict[str, RoundedCurrency], statements: Statements, *, issued_at: datetime
) -> None:
    """Allocations (the basis of later revisions), partner settlements, statements and their lines."""
    period = plan.period
    if plan.revised_ids:
        # Internal bookkeeping row, not a posted amount: marks which allocation later revisions start from.
        ClipAllocation.objects.filter(pk__in=plan.revised_ids).update(is_current=False)
    bulk_insert(
        ClipAllocation,
        ALLOCATION_COLUMNS,
        (
            (
                period.pk, a.deal_id, a.clip_id, a.kind, a.origin_id, a.split_on, a.currency, a.usage_count,
                exact_store(a.pool_exact), exact_store(a.attributed_exact), a.attribution_id, a.payable,
                a.held_amount, True, exact_store(a.voice_held_exact),
            )
            for a in plan.allocations
        ),
    )  # fmt: skip
    PartnerSettlement.objects.bulk_create(
        PartnerSettlement(
            period=period,
            partner_id=partner_id,
            currency=currency,
            line_count=s.lines,
            usage_count=s.usage,
            revenue_exact=exact_store(s.revenue),
            pool_exact=exact_store(s.pool),
            voice_fees_exact=exact_store(s.voice_fees),
            amount_due=rounded[currency].receivables.get(partner_id, ZERO),
            issued_at=issued_at,
            detail=[
                {
                    "deal": deal_id,
                    "revenue": str(exact_store(d.revenue)),
                    "pool": str(exact_store(d.pool)),
                    "voice_fees": str(exact_store(d.voice_fees)),
                }
                for deal_id, d in sorted(s.deals.items())
            ],
        )
        for (partner_id, currency), s in sorted(plan.settlements.items())
    )
    Statement.objects.bulk_create(statements.rows, batch_size=2000)
    statement_ids = dict(Statement.objects.filter(period=period).values_list("party_id", "id"))
    bulk_insert(StatementLine, LINE_COLUMNS, _line_rows(plan, statements, statement_ids))


def _line_rows(plan: ClosePlan, statements: Statements, statement_ids: dict[int, int]) -> Iterator[tuple]:
    # Insertion order is deterministic (usage is read in a fixed order): no sort needed. Usage lines that
    # net to zero (a revision back to the same split) are left out.
    usage = ((key, total) for key, total in plan.lines.items() if total.amount)
    for key, total in itertools.chain(usage, statements.extra_lines):
        # Unpacked in LineKey's field order (a third of the cost of nine attribute reads per line).
        party_id, kind, partner_id, recording_id, clip_id, currency, reference, right, right_type = key
        yield (
            statement_ids[party_id],
            kind,
            partner_id,
            recording_id,
            clip_id,
            total.usage_count,
            exact_store(total.amount),
            currency,
            reference[:300],
            right,
            right_type,
        )


# --- the summary's line totals ------------------------------------------------------------------

TOP_RECORDINGS = 8  # the dashboard's "top recordings by earnings"
RECORDING_KINDS = (StatementLineKind.EARNING, StatementLineKind.PRO_RATA, StatementLineKind.ADJUSTMENT)


def line_totals(plan: ClosePlan, statements: Statements) -> tuple[dict[str, dict[str, str]], list[list[str]]]:
    """Per currency, the exact sum of the statement lines of each kind; and the recordings that earned
    most ([recording id, currency, exact total]). Written into the period summary so the month page and
    the dashboard need not add up a month's statement lines again (a million at full size) on every view;
    one pass over the lines the close holds anyway."""
    by_kind: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    by_recording: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    recording_kinds = {k.value for k in RECORDING_KINDS}
    with localcontext(EXACT):
        for key, total in itertools.chain(plan.lines.items(), statements.extra_lines):
            kind, recording_id, currency = key[1], key[3], key[5]
            by_kind[currency][kind] += total.amount
            if recording_id is not None and kind in recording_kinds:
                by_recording[(recording_id, currency)] += total.amount
    top = sorted(by_recording.items(), key=lambda item: (-item[1], item[0]))[:TOP_RECORDINGS]
    return (
        {
            c: {k: str(exact_store(v)) for k, v in sorted(kinds.items())}
            for c, kinds in sorted(by_kind.items())
        },
        [[str(recording_id), currency, str(exact_store(amount))] for (recording_id, currency), amount in top],
    )


# --- the whole write ----------------------------------------------------------------------------


def previous_statements(period: Period) -> dict[int, Statement]:
    """Each party's latest statement before this period (its closing balance is the opening one)."""
    latest = (
        Statement.objects.filter(period__label_id=period.label_id, period__month__lt=period.month)
        .values("party_id")
        .annotate(month=Max("period__month"))
    )
    wanted = {(row["party_id"], row["month"]) for row in latest}
    if not wanted:
        return {}
    months = {m for _, m in wanted}
    found = Statement.objects.filter(
        period__label_id=period.label_id, period__month__in=months
    ).select_related("period")
    return {s.party_id: s for s in found if (s.party_id, s.period.month) in wanted}


def close_write(plan: ClosePlan) -> dict:
    """Post the plan and write its explanations (the steps above, in order). Returns the period summary."""
    period = plan.period
    profiles = {p.party_id: p for p in PayeeProfile.objects.filter(party__label_id=period.label_id)}
    previous = previous_statements(period)
    settings = LabelRoyaltySettings.objects.filter(label_id=period.label_id).first()
    issued_at = timezone.now()

    rounded = round_currencies(plan)
    totals = party_totals(plan, rounded, profiles=profiles, previous=previous)
    accounts = CloseAccounts.for_close(plan, rounded, totals)
    post_allocation(plan, rounded, accounts)
    post_fx(plan, totals, accounts)
    figures = party_figures(
        plan,
        totals,
        profiles=profiles,
        previous=previous,
        ledger=LedgerFigures.load(period, totals),
        threshold=settings.payout_threshold if settings else ZERO,
    )
    post_withholding_and_recoupment(plan, figures, accounts)
    statements = build_statements(plan, totals, figures, issued_at=issued_at)
    write_explanations(plan, rounded, statements, issued_at=issued_at)
    lines, top = line_totals(plan, statements)
    return {
        "currencies": {currency: currency_summary(plan, r) for currency, r in rounded.items()},
        "lines_exact": lines,
        "top_recordings": top,
        "statements": len(statements.rows),
        "allocations": len(plan.allocations),
        "revisions": len(plan.revised_ids),
    }
