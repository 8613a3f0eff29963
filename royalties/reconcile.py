"""Reconciliation of a closed period, recomputed from usage lines and read back from the ledger.

For each currency: revenue x rate, plus the flat-rate voice fees (rate x uses of clips declaring such a
voice model), recomputed from the usage lines, the deals and the voice models and rounded once, must
equal what the allocation posted as partner receivables, and the receivables must equal party earnings
+ the label's share + what was put in suspense (net of releases), to the cent. Each statement's closing
balance must equal the party's payable balance in the ledger at the end of the period.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext

from django.db.models import Sum

from catalog.models import Label
from ledger.models import Posting
from ledger.money import EXACT, money_quantize
from ledger.selectors import balances_for_codes
from royalties import accounts as chart
from royalties.close import DealBook, FxTable
from royalties.errors import PeriodNotClosed
from royalties.models import MONEY_PLACES, REVENUE_PLACES, Period, PeriodStatus, Statement, UsageLine
from royalties.periods import parse_period

ZERO = Decimal(0)
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
REVENUE_QUANTUM = Decimal(1).scaleb(-REVENUE_PLACES)


@dataclass
class CurrencyReconciliation:
    currency: str
    expected_pool: Decimal  # revenue x rate (+ flat voice fees) from the usage lines, rounded once
    receivable: Decimal  # posted to partner receivables
    party_earnings: Decimal
    label_share: Decimal
    undistributed: Decimal  # put in suspense this period, net of releases
    suspense_balance: Decimal  # everything still held at the end of the period

    @property
    def difference(self) -> Decimal:
        return self.expected_pool - self.receivable

    @property
    def allocation_difference(self) -> Decimal:
        return self.receivable - (self.party_earnings + self.label_share + self.undistributed)


@dataclass
class ReconcileReport:
    label: Label
    period: Period
    currencies: list[CurrencyReconciliation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _expected_pools(period: Period) -> dict[str, Decimal]:
    deals = DealBook(period)
    rows = (
        UsageLine.objects.filter(label=period.label, usage_date__gte=period.start, usage_date__lte=period.end)
        .values("partner_id", "currency", "usage_date")
        .annotate(revenue=Sum("net_revenue"))
        .values_list("partner_id", "currency", "usage_date", "revenue")
    )
    pools: dict[str, Decimal] = defaultdict(Decimal)
    fx = FxTable.load(period.month)
    with localcontext(EXACT):
        for partner_id, currency, day, revenue in rows:
            deal = deals.deal_for(partner_id, day)
            pools[deal.currency] += revenue * fx.rate(currency, deal.currency) * deal.royalty_rate
        # Flat-rate voice models are owed per use, on top of the pool (royalties.close.compute.voice_fee).
        fees = (
            UsageLine.objects.filter(
                label=period.label,
                usage_date__gte=period.start,
                usage_date__lte=period.end,
                clip__voice_model__rate_per_use__isnull=False,
            )
            .values("partner_id", "usage_date", "clip__voice_model__rate_per_use", "clip__voice_model__rate_currency")
            .annotate(uses=Sum("usage_count"))
            .values_list(
                "partner_id", "usage_date", "clip__voice_model__rate_per_use", "clip__voice_model__rate_currency",
                "uses",
            )
        )  # fmt: skip
        for partner_id, day, rate, rate_currency, uses in fees:
            deal = deals.deal_for(partner_id, day)
            pools[deal.currency] += Decimal(rate or 0) * (uses or 0) * fx.rate(rate_currency, deal.currency)
    return pools


def period_reconcile(*, label: Label, period: str | date) -> ReconcileReport:
    month = parse_period(period)
    row = Period.objects.filter(label=label, month=month).select_related("label").first()
    if row is None or row.status != PeriodStatus.CLOSED:
        raise PeriodNotClosed(f"{label.slug} {month:%Y-%m} is not closed")
    report = ReconcileReport(label=label, period=row)
    pools = _expected_pools(row)
    prefix = f"royalties:close:{label.pk}:{row.code}:allocation:"
    postings = (
        Posting.objects.filter(transaction__key__startswith=prefix)
        .values("account__code", "currency")
        .annotate(total=Sum("amount"))
    )
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for p in postings:
        code = p["account__code"]
        kind = (
            "receivable"
            if code.startswith("partner:")
            else "party"
            if code.startswith("party:")
            else "label"
            if code.endswith(":royalty_share")
            else "suspense"
        )
        sums[p["currency"]][kind] += Decimal(p["total"]).quantize(MONEY_QUANTUM)  # SQLite sums floats
    for currency in sorted(set(pools) | set(sums)):
        s = sums[currency]
        expected = money_quantize(pools.get(currency, ZERO), currency)
        suspense_code = chart.label_suspense(label.pk, currency).code
        held = -balances_for_codes(codes=[suspense_code], as_of=row.end).get((suspense_code, currency), ZERO)
        rec = CurrencyReconciliation(
            currency=currency,
            expected_pool=expected,
            receivable=s["receivable"],
            party_earnings=-s["party"],
            label_share=-s["label"],
            undistributed=-s["suspense"],
            suspense_balance=held,
        )
        report.currencies.append(rec)
        if rec.difference:
            report.problems.append(
                f"{currency}: revenue x rate is {expected} but {rec.receivable} was posted as receivable"
            )
        if rec.allocation_difference:
            report.problems.append(f"{currency}: allocation is off by {rec.allocation_difference}")

    statements = list(Statement.objects.filter(period=row))
    codes = [chart.party_payable(st.party_id, st.currency).code for st in statements]
    ledger = balances_for_codes(codes=codes, as_of=row.end)
    for st in statements:
        balance = -ledger.get((chart.party_payable(st.party_id, st.currency).code, st.currency), ZERO)
        if balance != st.closing_balance:
            report.problems.append(
                f"statement {st.number}: closing balance {st.closing_balance} but the ledger says {balance}"
            )
    return report
