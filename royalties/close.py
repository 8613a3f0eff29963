"""The monthly close: usage -> pools -> attribution shares -> splits -> parties, posted and explained.

`close_compute` reads everything and returns a `ClosePlan` (nothing is written); `close_write` posts the
plan to the ledger and writes allocations, settlements and statements. `royalties.services.period_close`
runs both in one database transaction while holding the period's row lock. The maths is described in
docs/royalties.md; in short:

    pool        = net revenue (in the deal currency) x royalty_rate
    label part  = pool x label_share
    attributed  = (pool - label part) x attributed_fraction      -> attribution shares -> splits -> parties
    pro-rata    = (pool - label part) - attributed               -> the deal's pro-rata rule -> parties
                  + attributed x unattributed share of the clip's attribution

Everything is computed at full precision (ledger.money.EXACT); only totals are rounded, per party per
currency, by largest remainder, so the rounded amounts add up to the rounded pool exactly.
"""

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, localcontext

from django.db.models import Case, Count, F, Max, Q, Sum, Value, When
from django.db.models import DateField as DateOutput
from django.utils import timezone

from catalog.models import SplitShare
from fingerprinting.models import PAYABLE_REVIEW_STATES, Attribution, AttributionShare, Clip
from ledger.money import EXACT, allocate_largest_remainder, money_quantize
from ledger.selectors import balances_for_codes
from ledger.services import PostingSpec, accounts_ensure, transaction_post
from royalties import accounts as chart
from royalties.bulk import bulk_insert
from royalties.errors import CloseBlocked
from royalties.models import (
    EXACT_PLACES,
    REVENUE_PLACES,
    AllocationKind,
    ClipAllocation,
    Deal,
    FxRate,
    LabelRoyaltySettings,
    PartnerSettlement,
    PayeeProfile,
    Period,
    ProRataRule,
    Statement,
    StatementLine,
    StatementLineKind,
    UsageLine,
)

ZERO = Decimal(0)
EXACT_QUANTUM = Decimal(1).scaleb(-EXACT_PLACES)
REVENUE_QUANTUM = Decimal(1).scaleb(-REVENUE_PLACES)
MAX_BUCKETS = 31  # more split/deal changes than this in a month: group usage by day instead
LABEL_KEY = ("label", 0)
SUSPENSE_KEY = ("suspense", 0)


def exact_store(value: Decimal) -> Decimal:
    """Exact amounts are stored with EXACT_PLACES places (far below any minor unit)."""
    return EXACT.quantize(value, EXACT_QUANTUM)  # a context method: no context switch per call


class SplitBook:
    """Every split version of a label's recordings, for 'the version in force on a date' lookups."""

    def __init__(self, label_id: int):
        versions: dict[tuple[int, str], dict[date, list[tuple[int, Decimal]]]] = defaultdict(dict)
        rows = SplitShare.objects.filter(split__recording__label_id=label_id).values_list(
            "split__recording_id", "split__right_type", "split__effective_from", "party_id", "share"
        )
        for recording_id, right_type, start, party_id, share in rows.iterator(chunk_size=20000):
            versions[(recording_id, right_type)].setdefault(start, []).append((party_id, share))
        self._starts: dict[tuple[int, str], list[date]] = {}
        self._shares: dict[tuple[int, str], list[list[tuple[int, Decimal]]]] = {}
        for key, by_start in versions.items():
            starts = sorted(by_start)
            self._starts[key] = starts
            self._shares[key] = [sorted(by_start[s]) for s in starts]

    def on(self, recording_id: int, right_type: str, day: date) -> list[tuple[int, Decimal]] | None:
        starts = self._starts.get((recording_id, right_type))
        if not starts:
            return None
        i = bisect.bisect_right(starts, day) - 1
        return self._shares[(recording_id, right_type)][i] if i >= 0 else None

    def starts_within(self, first: date, last: date) -> set[date]:
        return {s for starts in self._starts.values() for s in starts if first < s <= last}

    def recordings_in_force(self, right_type: str, day: date) -> list[int]:
        return sorted(r for (r, rt) in self._starts if rt == right_type and self.on(r, rt, day))


@dataclass
class CurrencyBook:
    """Exact amounts owed in one currency, before rounding."""

    currency: str
    sources: dict[tuple[str, int], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    parties: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    party_adjustments: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    label: Decimal = ZERO
    holds: dict[int, Decimal] = field(default_factory=dict)  # allocation index -> held exact
    released: Decimal = ZERO
    pools: Decimal = ZERO


@dataclass
class Allocation:
    deal_id: int
    clip_id: int
    kind: str
    split_on: date
    currency: str
    usage_count: int
    pool_exact: Decimal
    attributed_exact: Decimal
    attribution_id: int | None
    payable: bool
    origin_id: int | None = None
    held_amount: Decimal = ZERO


@dataclass
class ClosePlan:
    period: Period
    books: dict[str, CurrencyBook]
    allocations: list[Allocation]
    revised_ids: list[int]
    lines: dict[tuple, list]  # (party, kind, partner, recording, clip, currency, reference) -> [exact, count]
    settlements: dict[tuple[int, str], dict]
    fx: dict[tuple[str, str], Decimal]


def _fx_table(month: date) -> dict[tuple[str, str], tuple[Decimal, str]]:
    return {(r.base, r.quote): (r.rate, r.source) for r in FxRate.objects.filter(month=month)}


def fx_rate(table: dict, base: str, quote: str, month: date) -> Decimal:
    if base == quote:
        return Decimal(1)
    if (base, quote) in table:
        return table[(base, quote)][0]
    if (quote, base) in table:
        with localcontext(EXACT):
            return Decimal(1) / table[(quote, base)][0]
    raise CloseBlocked(
        f"no FX rate {base}->{quote} for {month:%Y-%m}: enter one in the period's rate table",
        fields={"fx": [f"{base}/{quote}"]},
    )


class _Close:
    def __init__(self, period: Period):
        self.period = period
        self.label = period.label
        self.start, self.end = period.start, period.end
        self.book = SplitBook(self.label.pk)
        self.fx_table = _fx_table(period.month)
        self.fx_used: dict[tuple[str, str], Decimal] = {}
        self.deals = list(
            Deal.objects.filter(label=self.label, effective_from__lte=self.end).filter(
                Q(effective_to__isnull=True) | Q(effective_to__gte=self.start)
            )
        )
        self.books: dict[str, CurrencyBook] = {}
        self.lines: dict[tuple, list] = {}
        self.allocations: list[Allocation] = []
        self.settlements: dict[tuple[int, str], dict] = {}
        self.prorata: dict[int, Decimal] = defaultdict(Decimal)  # deal id -> exact pro-rata pool
        self.recording_weight: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        self.deals_by_id = {d.pk: d for d in self.deals}

    # -- lookups -------------------------------------------------------------------------------
    def currency_book(self, currency: str) -> CurrencyBook:
        if currency not in self.books:
            self.books[currency] = CurrencyBook(currency)
        return self.books[currency]

    def rate(self, base: str, quote: str) -> Decimal:
        rate = fx_rate(self.fx_table, base, quote, self.period.month)
        if base != quote:
            self.fx_used[(base, quote)] = rate
        return rate

    def deal_for(self, partner_id: int, day: date) -> Deal:
        found = [
            d
            for d in self.deals
            if d.partner_id == partner_id
            and d.effective_from <= day
            and (d.effective_to is None or d.effective_to >= day)
        ]
        if len(found) != 1:
            problem = "no deal" if not found else "more than one deal"
            raise CloseBlocked(
                f"{problem} in force for partner {partner_id} on {day} (label {self.label.slug}); "
                "usage cannot be priced",
                fields={"deal": [f"partner {partner_id} on {day}"]},
            )
        return found[0]

    def boundaries(self) -> list[date]:
        days = self.book.starts_within(self.start, self.end)
        for deal in self.deals:
            if self.start < deal.effective_from <= self.end:
                days.add(deal.effective_from)
            if deal.effective_to and self.start <= deal.effective_to < self.end:
                days.add(deal.effective_to + timedelta(days=1))
        return sorted(days)

    # -- distribution --------------------------------------------------------------------------
    def distribute(
        self,
        *,
        book: CurrencyBook,
        deal: Deal,
        clip_id: int,
        shares: list[tuple[int, Decimal]],
        amount: Decimal,
        split_on: date,
        usage_count: int,
        kind: str,
        reference: str = "",
    ) -> None:
        """An attributed amount over (recording, share) pairs, then over each recording's split.

        The hot loop of the close (a million party amounts at full size): locals, no default factories.
        """
        adjustment = kind == StatementLineKind.ADJUSTMENT
        weights = self.recording_weight[deal.pk] if kind == StatementLineKind.EARNING else None
        split_on_day = self.book.on
        right_type, partner_id, currency = deal.right_type, deal.partner_id, book.currency
        parties, lines = book.parties, self.lines
        for recording_id, share in shares:
            part = amount * share
            if weights is not None:
                weights[recording_id] += part
            split = split_on_day(recording_id, right_type, split_on)
            if not split:
                # A recording without a split in force is the label's own (documented rule).
                book.label += part
                continue
            for party_id, party_share in split:
                value = part * party_share
                parties[party_id] += value
                if adjustment:
                    book.party_adjustments[party_id] += value
                key = (party_id, kind, partner_id, recording_id, clip_id, currency, reference)
                line = lines.get(key)
                if line is None:
                    lines[key] = [value, usage_count]
                else:
                    line[0] += value
                    line[1] += usage_count

    # -- phases --------------------------------------------------------------------------------
    def usage(self) -> None:
        cuts = self.boundaries()
        if len(cuts) > MAX_BUCKETS:
            bucket = F("usage_date")
        elif cuts:
            whens = [
                When(usage_date__lt=cut, then=Value(prev))
                for prev, cut in zip([self.start, *cuts], cuts, strict=False)
            ]
            bucket = Case(*whens, default=Value(cuts[-1]), output_field=DateOutput())
        else:
            bucket = Value(self.start, output_field=DateOutput())
        groups = list(
            UsageLine.objects.filter(label=self.label, usage_date__gte=self.start, usage_date__lte=self.end)
            .annotate(bucket=bucket)
            .values("partner_id", "currency", "clip_id", "bucket")
            .annotate(revenue=Sum("net_revenue"), count=Sum("usage_count"), lines=Count("id"))
            .order_by("partner_id", "clip_id", "bucket", "currency")
            .values_list("partner_id", "currency", "clip_id", "bucket", "revenue", "count", "lines")
        )
        current = dict(
            Clip.objects.filter(label=self.label, current_attribution__isnull=False).values_list(
                "id", "current_attribution_id"
            )
        )
        attributions, shares = self.attributions(
            Attribution.objects.filter(
                clip__label=self.label,
                pk__in=Clip.objects.filter(label=self.label).values("current_attribution_id"),
            )
        )
        for partner_id, currency, clip_id, split_on, revenue, count, line_count in groups:
            if isinstance(split_on, str):  # SQLite returns Case() dates as text
                split_on = date.fromisoformat(split_on)
            deal = self.deal_for(partner_id, split_on)
            book = self.currency_book(deal.currency)
            # Sums of 6-place revenues have 6 places; quantizing removes SQLite's float noise.
            revenue = Decimal(revenue).quantize(REVENUE_QUANTUM) * self.rate(currency, deal.currency)
            pool = revenue * deal.royalty_rate
            label_part = pool * deal.label_share
            attributed = (pool - label_part) * deal.attributed_fraction
            self.prorata[deal.pk] += pool - label_part - attributed
            book.label += label_part
            book.sources[("partner", partner_id)] += pool
            book.pools += pool
            settlement = self.settlements.setdefault(
                (partner_id, deal.currency),
                {
                    "lines": 0,
                    "usage": 0,
                    "revenue": ZERO,
                    "pool": ZERO,
                    "deals": defaultdict(lambda: [ZERO, ZERO]),
                },
            )
            settlement["lines"] += line_count
            settlement["usage"] += count
            settlement["revenue"] += revenue
            settlement["pool"] += pool
            settlement["deals"][deal.pk][0] += revenue
            settlement["deals"][deal.pk][1] += pool

            attribution_id = current.get(clip_id)
            state = attributions.get(attribution_id)
            payable = state is not None and state[0] in PAYABLE_REVIEW_STATES
            allocation = Allocation(
                deal_id=deal.pk,
                clip_id=clip_id,
                kind=AllocationKind.USAGE,
                split_on=split_on,
                currency=deal.currency,
                usage_count=count,
                pool_exact=pool,
                attributed_exact=attributed,
                attribution_id=attribution_id,
                payable=payable,
            )
            if payable:
                self.distribute(
                    book=book,
                    deal=deal,
                    clip_id=clip_id,
                    shares=shares[attribution_id],
                    amount=attributed,
                    split_on=split_on,
                    usage_count=count,
                    kind=StatementLineKind.EARNING,
                )
                self.prorata[deal.pk] += attributed * state[1]
            elif attributed:
                book.holds[len(self.allocations)] = attributed
            self.allocations.append(allocation)

    @staticmethod
    def attributions(queryset) -> tuple[dict[int, tuple[str, Decimal]], dict[int, list[tuple[int, Decimal]]]]:
        states = {
            pk: (state, unattributed)
            for pk, state, unattributed in queryset.values_list("pk", "review_state", "unattributed")
        }
        shares: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
        rows = AttributionShare.objects.filter(attribution__in=queryset.values("pk")).values_list(
            "attribution_id", "recording_id", "share"
        )
        for attribution_id, recording_id, share in rows.iterator(chunk_size=50000):
            shares[attribution_id].append((recording_id, share))
        for value in shares.values():
            value.sort()
        return states, shares

    def revisions(self) -> list[int]:
        """Allocations of earlier closes whose clip's attribution changed since: adjustment lines now."""
        stale = list(
            ClipAllocation.objects.filter(
                period__label=self.label, period__month__lt=self.period.month, is_current=True
            )
            .filter(
                Q(attribution__isnull=True, clip__current_attribution__isnull=False)
                | (Q(attribution__isnull=False) & ~Q(attribution_id=F("clip__current_attribution_id")))
                | Q(attribution__isnull=False, clip__current_attribution__isnull=True)
            )
            .select_related("period", "deal")
            .annotate(new_attribution_id=F("clip__current_attribution_id"))
            .order_by("id")
        )
        if not stale:
            return []
        ids = {a.attribution_id for a in stale if a.attribution_id} | {
            a.new_attribution_id for a in stale if a.new_attribution_id
        }
        states, shares = self.attributions(Attribution.objects.filter(pk__in=ids))
        versions = dict(Attribution.objects.filter(pk__in=ids).values_list("pk", "version"))
        revised = []
        for old in stale:
            new_state = states.get(old.new_attribution_id)
            new_payable = new_state is not None and new_state[0] in PAYABLE_REVIEW_STATES
            if not old.payable and not new_payable:
                continue  # still held; its money stays in suspense
            deal = old.deal
            book = self.currency_book(old.currency)
            reference = (
                f"corrects {old.period.code} allocation {old.pk} of clip {old.clip_id}: attribution "
                f"v{versions.get(old.attribution_id, '-')} -> v{versions.get(old.new_attribution_id, '-')}"
            )
            if old.payable:
                self.distribute(
                    book=book,
                    deal=deal,
                    clip_id=old.clip_id,
                    shares=shares[old.attribution_id],
                    amount=-old.attributed_exact,
                    split_on=old.split_on,
                    usage_count=0,
                    kind=StatementLineKind.ADJUSTMENT,
                    reference=reference,
                )
                self.prorata[deal.pk] -= old.attributed_exact * states[old.attribution_id][1]
                amount = old.attributed_exact
            else:
                # Released from suspense: exactly the rounded amount that was held for this clip.
                amount = old.held_amount
                book.sources[SUSPENSE_KEY] += amount
                book.released += amount
            allocation = Allocation(
                deal_id=deal.pk,
                clip_id=old.clip_id,
                kind=AllocationKind.REVISION,
                split_on=old.split_on,
                currency=old.currency,
                usage_count=0,
                pool_exact=old.pool_exact,
                attributed_exact=amount,
                attribution_id=old.new_attribution_id,
                payable=new_payable,
                origin_id=old.origin_id or old.pk,
            )
            if new_payable:
                self.distribute(
                    book=book,
                    deal=deal,
                    clip_id=old.clip_id,
                    shares=shares[old.new_attribution_id],
                    amount=amount,
                    split_on=old.split_on,
                    usage_count=0,
                    kind=StatementLineKind.ADJUSTMENT,
                    reference=reference,
                )
                self.prorata[deal.pk] += amount * new_state[1]
            else:
                book.holds[len(self.allocations)] = amount
            self.allocations.append(allocation)
            revised.append(old.pk)
            self.deals_by_id.setdefault(deal.pk, deal)
        return revised

    def pro_rata(self) -> None:
        for deal_id, amount in sorted(self.prorata.items()):
            if not amount:
                continue
            deal = self.deals_by_id[deal_id]
            book = self.currency_book(deal.currency)
            catalog = self.book.recordings_in_force(deal.right_type, self.end)
            weights: dict[int, Decimal] = {}
            if deal.pro_rata_rule == ProRataRule.BY_ATTRIBUTED_SHARE:
                in_force = set(catalog)
                weights = {r: w for r, w in self.recording_weight[deal_id].items() if w > 0 and r in in_force}
            if not weights:
                weights = dict.fromkeys(catalog, Decimal(1))
            if not weights:
                book.label += amount  # nothing licensed to spread over: the label keeps it
                continue
            total = sum(weights.values(), ZERO)
            for recording_id in sorted(weights):
                part = amount * weights[recording_id] / total
                for party_id, party_share in self.book.on(recording_id, deal.right_type, self.end):
                    value = part * party_share
                    book.parties[party_id] += value
                    key = (
                        party_id,
                        StatementLineKind.PRO_RATA,
                        deal.partner_id,
                        recording_id,
                        None,
                        book.currency,
                        deal.pro_rata_rule,
                    )
                    line = self.lines.setdefault(key, [ZERO, 0])
                    line[0] += value


def close_compute(period: Period) -> ClosePlan:
    with localcontext(EXACT):
        run = _Close(period)
        run.usage()
        revised = run.revisions()
        run.pro_rata()
    return ClosePlan(
        period=period,
        books=run.books,
        allocations=run.allocations,
        revised_ids=revised,
        lines=run.lines,
        settlements=run.settlements,
        fx={k: v[0] for k, v in run.fx_table.items()},
    )


# --- writing --------------------------------------------------------------------------------------


@dataclass
class PartyTotals:
    party_id: int
    currency: str  # the statement currency
    earnings: Decimal = ZERO
    adjustments: Decimal = ZERO
    # (source currency, amount in it, rate, converted amount in the statement currency)
    conversions: list[tuple[str, Decimal, Decimal, Decimal]] = field(default_factory=list)


def _key(prefix: str, period: Period) -> str:
    return f"royalties:close:{period.label_id}:{period.code}:{prefix}"


def close_write(plan: ClosePlan) -> dict:
    period = plan.period
    label = period.label
    label_id = label.pk
    end = period.end
    summary: dict = {"currencies": {}}
    specs = []
    rounded: dict[str, dict[tuple, Decimal]] = {}
    sources_rounded: dict[str, dict[tuple, Decimal]] = {}

    with localcontext(EXACT):
        for currency, book in sorted(plan.books.items()):
            total = money_quantize(sum(book.sources.values(), ZERO), currency)
            sources_rounded[currency] = (
                allocate_largest_remainder(total, book.sources, currency) if book.sources else {}
            )
            recipients: dict[tuple, Decimal] = {("party", p): v for p, v in book.parties.items()}
            recipients[LABEL_KEY] = book.label
            recipients[SUSPENSE_KEY] = sum(book.holds.values(), ZERO)
            rounded[currency] = allocate_largest_remainder(total, recipients, currency)
            held_total = rounded[currency][SUSPENSE_KEY]
            if book.holds:
                for index, amount in allocate_largest_remainder(held_total, book.holds, currency).items():
                    plan.allocations[index].held_amount = amount
            summary["currencies"][currency] = {
                "pools_exact": str(book.pools),
                "receivable": str(
                    sum((v for k, v in sources_rounded[currency].items() if k[0] == "partner"), ZERO)
                ),
                "released": str(sources_rounded[currency].get(SUSPENSE_KEY, ZERO)),
                "parties": str(sum((v for k, v in rounded[currency].items() if k[0] == "party"), ZERO)),
                "label": str(rounded[currency][LABEL_KEY]),
                "held": str(held_total),
            }
            for key in sources_rounded[currency]:
                if key[0] == "partner":
                    specs.append(chart.partner_receivable(key[1], label_id, currency))
            for key in rounded[currency]:
                if key[0] == "party":
                    specs.append(chart.party_payable(key[1], currency))
            specs += [chart.label_share(label_id, currency), chart.label_suspense(label_id, currency)]

        # Statement currencies and FX conversions per party total.
        party_ids = sorted({k[1] for r in rounded.values() for k in r if k[0] == "party"})
        profiles = {p.party_id: p for p in PayeeProfile.objects.filter(party__label=label)}
        previous = _previous_statements(period)
        party_ids = sorted(set(party_ids) | {pid for pid, st in previous.items() if st.closing_balance})
        fx_table = _fx_table(period.month)
        totals: dict[int, PartyTotals] = {}
        for party_id in party_ids:
            profile = profiles.get(party_id)
            currency = profile.currency if profile else label.default_currency
            pt = PartyTotals(party_id=party_id, currency=currency)
            for source_currency, amounts in rounded.items():
                amount = amounts.get(("party", party_id), ZERO)
                if not amount:
                    continue
                adjustment = money_quantize(
                    plan.books[source_currency].party_adjustments.get(party_id, ZERO), source_currency
                )
                if source_currency == currency:
                    converted, converted_adjustment = amount, adjustment
                else:
                    rate = fx_rate(fx_table, source_currency, currency, period.month)
                    converted = money_quantize(amount * rate, currency)
                    converted_adjustment = money_quantize(adjustment * rate, currency)
                    pt.conversions.append((source_currency, amount, rate, converted))
                    specs.append(chart.party_payable(party_id, currency))
                    specs += [
                        chart.label_fx_clearing(label_id, source_currency),
                        chart.label_fx_clearing(label_id, currency),
                    ]
                pt.earnings += converted - converted_adjustment
                pt.adjustments += converted_adjustment
            # No advance account here: only parties that were granted one have a balance to recoup.
            specs.append(chart.party_payable(party_id, currency))
            specs.append(chart.label_withholding(label_id, currency))
            totals[party_id] = pt

    accounts = accounts_ensure(specs=specs)

    def acct(spec) -> object:
        key = (spec.code, spec.currency)
        if key not in accounts:  # rare accounts (a party's advance) are fetched when first needed
            accounts.update(accounts_ensure(specs=[spec]))
        return accounts[key]

    # 1. The allocation, one transaction per currency.
    for currency in sorted(plan.books):
        postings = []
        for key, amount in sorted(sources_rounded[currency].items()):
            if key[0] == "partner" and amount:
                postings.append(
                    PostingSpec(
                        account=acct(chart.partner_receivable(key[1], label_id, currency)), amount=amount
                    )
                )
        suspense_net = sources_rounded[currency].get(SUSPENSE_KEY, ZERO) - rounded[currency][SUSPENSE_KEY]
        if suspense_net:
            postings.append(
                PostingSpec(account=acct(chart.label_suspense(label_id, currency)), amount=suspense_net)
            )
        for key, amount in sorted(rounded[currency].items()):
            if key[0] == "party" and amount:
                postings.append(
                    PostingSpec(account=acct(chart.party_payable(key[1], currency)), amount=-amount)
                )
        if rounded[currency][LABEL_KEY]:
            postings.append(
                PostingSpec(
                    account=acct(chart.label_share(label_id, currency)), amount=-rounded[currency][LABEL_KEY]
                )
            )
        if len(postings) >= 2:
            transaction_post(
                key=_key(f"allocation:{currency}", period),
                postings=postings,
                effective_date=end,
                memo=f"royalty allocation {label.slug} {period.code} {currency}",
            )

    # 2. FX: each converted party total through the clearing accounts, one transaction per pair.
    by_pair: dict[tuple[str, str], list[tuple[int, Decimal, Decimal]]] = defaultdict(list)
    for pt in totals.values():
        for source_currency, amount, _rate, converted in pt.conversions:
            by_pair[(source_currency, pt.currency)].append((pt.party_id, amount, converted))
    for (base, quote), rows in sorted(by_pair.items()):
        postings = []
        for party_id, amount, converted in rows:
            postings.append(PostingSpec(account=acct(chart.party_payable(party_id, base)), amount=amount))
            if converted:
                postings.append(
                    PostingSpec(account=acct(chart.party_payable(party_id, quote)), amount=-converted)
                )
        base_total = sum((r[1] for r in rows), ZERO)
        quote_total = sum((r[2] for r in rows), ZERO)
        if base_total:
            postings.append(
                PostingSpec(account=acct(chart.label_fx_clearing(label_id, base)), amount=-base_total)
            )
        if quote_total:
            postings.append(
                PostingSpec(account=acct(chart.label_fx_clearing(label_id, quote)), amount=quote_total)
            )
        transaction_post(
            key=_key(f"fx:{base}:{quote}", period),
            postings=postings,
            effective_date=end,
            memo=f"FX {base}->{quote}",
        )

    # 3. Withholding tax and advance recoupment, then the statements.
    advance_codes = [chart.party_advance(pid, totals[pid].currency).code for pid in party_ids]
    advances = balances_for_codes(codes=advance_codes, as_of=end)
    payable_codes = [chart.party_payable(pid, totals[pid].currency).code for pid in party_ids]
    payouts = balances_for_codes(
        codes=payable_codes, key_prefix="royalties:payout:", since=period.start, as_of=end
    )
    threshold_setting = LabelRoyaltySettings.objects.filter(label=label).first()
    threshold_base = threshold_setting.payout_threshold if threshold_setting else ZERO
    withholding_postings: dict[str, list[PostingSpec]] = defaultdict(list)
    recoup_postings: dict[str, list[PostingSpec]] = defaultdict(list)
    statements: list[Statement] = []
    statement_extra_lines: dict[int, list[tuple]] = defaultdict(list)
    now = timezone.now()
    with localcontext(EXACT):
        for n, party_id in enumerate(party_ids, start=1):
            pt = totals[party_id]
            currency = pt.currency
            profile = profiles.get(party_id)
            base = pt.earnings + pt.adjustments
            withholding = ZERO
            if profile and profile.withholding_rate and base > 0:
                withholding = money_quantize(base * profile.withholding_rate, currency)
            outstanding = advances.get((chart.party_advance(party_id, currency).code, currency), ZERO)
            recouped = max(ZERO, min(outstanding, base - withholding))
            paid = payouts.get((chart.party_payable(party_id, currency).code, currency), ZERO)
            prev = previous.get(party_id)
            opening = prev.closing_balance if prev and prev.currency == currency else ZERO
            closing = opening + pt.earnings + pt.adjustments - withholding - recouped - paid
            if currency == label.default_currency:
                threshold = threshold_base
            else:
                threshold = money_quantize(
                    threshold_base * fx_rate(fx_table, label.default_currency, currency, period.month),
                    currency,
                )
            if withholding:
                payable = acct(chart.party_payable(party_id, currency))
                withholding_postings[currency].append(PostingSpec(account=payable, amount=withholding))
            if recouped:
                recoup_postings[currency] += [
                    PostingSpec(account=acct(chart.party_payable(party_id, currency)), amount=recouped),
                    PostingSpec(account=acct(chart.party_advance(party_id, currency)), amount=-recouped),
                ]
            statements.append(
                Statement(
                    period=period,
                    party_id=party_id,
                    number=f"{label.slug.upper()}-{period.month:%Y%m}-{n:05d}",
                    currency=currency,
                    opening_balance=opening,
                    earnings=pt.earnings,
                    adjustments=pt.adjustments,
                    withholding=withholding,
                    recouped=recouped,
                    payouts=paid,
                    closing_balance=closing,
                    payout_threshold=threshold,
                    carried_forward=ZERO < closing < threshold,
                    issued_at=now,
                )
            )
            extra = statement_extra_lines[party_id]
            for source_currency, amount, rate, converted in pt.conversions:
                extra.append(
                    (
                        StatementLineKind.FX,
                        None,
                        None,
                        None,
                        0,
                        -amount,
                        source_currency,
                        f"converted to {currency} at {rate}",
                    )
                )
                extra.append(
                    (
                        StatementLineKind.FX,
                        None,
                        None,
                        None,
                        0,
                        converted,
                        currency,
                        f"from {amount} {source_currency} at {rate}",
                    )
                )
            if withholding:
                extra.append(
                    (
                        StatementLineKind.WITHHOLDING,
                        None,
                        None,
                        None,
                        0,
                        -withholding,
                        currency,
                        f"rate {profile.withholding_rate}",
                    )
                )
            if recouped:
                extra.append(
                    (
                        StatementLineKind.RECOUPMENT,
                        None,
                        None,
                        None,
                        0,
                        -recouped,
                        currency,
                        f"advance outstanding {outstanding}",
                    )
                )
            if paid:
                extra.append(
                    (StatementLineKind.PAYOUT, None, None, None, 0, -paid, currency, "payouts in the period")
                )

    for currency, postings in sorted(withholding_postings.items()):
        total = sum((p.amount for p in postings), ZERO)
        postings.append(PostingSpec(account=acct(chart.label_withholding(label_id, currency)), amount=-total))
        transaction_post(
            key=_key(f"withholding:{currency}", period),
            postings=postings,
            effective_date=end,
            memo="withholding tax",
        )
    for currency, postings in sorted(recoup_postings.items()):
        transaction_post(
            key=_key(f"recoupment:{currency}", period),
            postings=postings,
            effective_date=end,
            memo="advances recouped",
        )

    # 4. The explanations: allocations, settlements, statements and their lines.
    if plan.revised_ids:
        # Internal bookkeeping row, not a posted amount: marks which allocation later revisions start from.
        ClipAllocation.objects.filter(pk__in=plan.revised_ids).update(is_current=False)
    bulk_insert(
        ClipAllocation,
        [
            "period_id", "deal_id", "clip_id", "kind", "origin_id", "split_on", "currency", "usage_count",
            "pool_exact", "attributed_exact", "attribution_id", "payable", "held_amount", "is_current",
        ],
        (
            (
                period.pk, a.deal_id, a.clip_id, a.kind, a.origin_id, a.split_on, a.currency, a.usage_count,
                exact_store(a.pool_exact), exact_store(a.attributed_exact), a.attribution_id, a.payable,
                a.held_amount, True,
            )
            for a in plan.allocations
        ),
    )  # fmt: skip
    settlements = []
    for (partner_id, currency), s in sorted(plan.settlements.items()):
        settlements.append(
            PartnerSettlement(
                period=period,
                partner_id=partner_id,
                currency=currency,
                line_count=s["lines"],
                usage_count=s["usage"],
                revenue_exact=exact_store(s["revenue"]),
                pool_exact=exact_store(s["pool"]),
                amount_due=sources_rounded[currency].get(("partner", partner_id), ZERO),
                issued_at=now,
                detail=[
                    {"deal": deal_id, "revenue": str(exact_store(v[0])), "pool": str(exact_store(v[1]))}
                    for deal_id, v in sorted(s["deals"].items())
                ],
            )
        )
    PartnerSettlement.objects.bulk_create(settlements)
    Statement.objects.bulk_create(statements, batch_size=2000)
    statement_ids = dict(Statement.objects.filter(period=period).values_list("party_id", "id"))

    def line_rows():
        # Insertion order is deterministic (usage is read in a fixed order): no sort needed.
        for key, (amount, count) in plan.lines.items():
            party_id, kind, partner_id, recording_id, clip_id, currency, reference = key
            if amount:
                yield (
                    statement_ids[party_id],
                    kind,
                    partner_id,
                    recording_id,
                    clip_id,
                    count,
                    exact_store(amount),
                    currency,
                    reference[:300],
                )
        for party_id, rows in statement_extra_lines.items():
            for kind, partner_id, recording_id, clip_id, count, amount, currency, reference in rows:
                yield (
                    statement_ids[party_id],
                    kind,
                    partner_id,
                    recording_id,
                    clip_id,
                    count,
                    exact_store(amount),
                    currency,
                    reference[:300],
                )

    bulk_insert(
        StatementLine,
        [
            "statement_id",
            "kind",
            "partner_id",
            "recording_id",
            "clip_id",
            "usage_count",
            "amount_exact",
            "currency",
            "reference",
        ],
        line_rows(),
    )
    summary["statements"] = len(statements)
    summary["allocations"] = len(plan.allocations)
    summary["revisions"] = len(plan.revised_ids)
    return summary


def _previous_statements(period: Period) -> dict[int, Statement]:
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
