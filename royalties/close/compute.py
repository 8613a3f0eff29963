"""The close's computation: usage -> pools -> attribution shares -> rights -> splits -> parties (nothing written).

`close_compute(period)` reads the month's usage grouped per clip, the clips' current attributions, every
split version and the deals in force, and returns a `ClosePlan` at full precision. The rules are in
docs/royalties.md; the hot path is `CloseComputation.distribute`, which runs once per (share, right,
party) of every payable clip: a million times at full size (bench/close_period.py).
"""

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import NamedTuple

from django.db.models import Case, Count, F, Q, QuerySet, Sum, Value, When
from django.db.models import DateField as DateOutput

from catalog.models import RightType, SplitShare
from fingerprinting.licence import OUTSIDE_LICENCE
from fingerprinting.models import Attribution, AttributionShare, Clip, ShareRight, UnlicensedUse
from ledger.money import EXACT
from royalties.close.plan import (
    SUSPENSE_KEY,
    ZERO,
    Allocation,
    AttributionState,
    ClosePlan,
    CurrencyBook,
    FxTable,
    LineKey,
    LineTotal,
    SettlementTotals,
    ShareRow,
    partner_key,
)
from royalties.errors import CloseBlocked
from royalties.models import (
    REVENUE_PLACES,
    AllocationKind,
    ClipAllocation,
    Deal,
    Period,
    ProRataRule,
    StatementLineKind,
    UsageLine,
)

REVENUE_QUANTUM = Decimal(1).scaleb(-REVENUE_PLACES)
MAX_BUCKETS = 31  # more split/deal changes than this in a month: group usage by day instead

# Plain strings, not the TextChoices members: they key a million dict entries in the hot loop, and an
# enum member hashes through a Python-level __hash__ (and would not find a plain-string key).
MASTER, PUBLISHING = RightType.MASTER.value, RightType.PUBLISHING.value
RIGHT_TYPES = (MASTER, PUBLISHING)
COMPOSITION = ShareRight.COMPOSITION.value
EARNING, ADJUSTMENT = StatementLineKind.EARNING.value, StatementLineKind.ADJUSTMENT.value
PRO_RATA = StatementLineKind.PRO_RATA.value
VOICE = StatementLineKind.VOICE.value


class VoiceTerms(NamedTuple):
    """A declared voice model's licence terms: a share of the pool, or a flat rate per use (one is None)."""

    party_id: int
    pool_share: Decimal | None
    rate_per_use: Decimal | None
    rate_currency: str


def clip_voice_models(label_id: int) -> dict[int, VoiceTerms]:
    """clip id -> the terms of the voice model it declared, for the label's clips that declared one."""
    rows = Clip.objects.filter(label_id=label_id, voice_model__isnull=False).values_list(
        "id", "voice_model__party_id", "voice_model__pool_share", "voice_model__rate_per_use",
        "voice_model__rate_currency",
    )  # fmt: skip
    return {
        clip_id: VoiceTerms(party_id, share, rate, currency)
        for clip_id, party_id, share, rate, currency in rows
    }


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
        """(party id, share) of the recording's split of `right_type` in force on `day`, or None."""
        starts = self._starts.get((recording_id, right_type))
        if not starts:
            return None
        i = bisect.bisect_right(starts, day) - 1
        return self._shares[(recording_id, right_type)][i] if i >= 0 else None

    def starts_within(self, first: date, last: date) -> set[date]:
        return {s for starts in self._starts.values() for s in starts if first < s <= last}

    def recordings_in_force(self, right_type: str, day: date) -> list[int]:
        return sorted(r for (r, rt) in self._starts if rt == right_type and self.on(r, rt, day))


class DealBook:
    """The label's deals in force at some time in the period."""

    def __init__(self, period: Period):
        self.period = period
        self.deals = list(
            Deal.objects.filter(label_id=period.label_id, effective_from__lte=period.end).filter(
                Q(effective_to__isnull=True) | Q(effective_to__gte=period.start)
            )
        )
        self.by_id = {d.pk: d for d in self.deals}

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
                f"{problem} in force for partner {partner_id} on {day} (label {self.period.label.slug}); "
                "usage cannot be priced",
                fields={"deal": [f"partner {partner_id} on {day}"]},
            )
        return found[0]

    def changes_within(self) -> set[date]:
        """Days in the period from which another deal is in force."""
        start, end = self.period.start, self.period.end
        days = set()
        for deal in self.deals:
            if start < deal.effective_from <= end:
                days.add(deal.effective_from)
            if deal.effective_to and start <= deal.effective_to < end:
                days.add(deal.effective_to + timedelta(days=1))
        return days


def attributions_load(
    queryset: QuerySet[Attribution],
) -> tuple[dict[int, AttributionState], dict[int, list[ShareRow]]]:
    """The review state and unattributed remainder of each attribution, and its shares (recording id,
    share, right) in recording order."""
    make = AttributionState._make
    # An attribution that drew on a recording outside the licence (fingerprinting.licence) is never paid,
    # whatever its review says: its money stays in suspense until a person's revision takes the share out.
    outside = set(
        UnlicensedUse.objects.filter(attribution__in=queryset.values("pk")).values_list(
            "attribution_id", flat=True
        )
    )
    states = {
        pk: make((OUTSIDE_LICENCE if pk in outside else state, unattributed))
        for pk, state, unattributed in queryset.values_list("pk", "review_state", "unattributed")
    }
    shares: dict[int, list[ShareRow]] = defaultdict(list)
    rows = AttributionShare.objects.filter(attribution__in=queryset.values("pk")).values_list(
        "attribution_id", "recording_id", "share", "right"
    )
    for attribution_id, recording_id, share, right in rows.iterator(chunk_size=50000):
        shares[attribution_id].append((recording_id, share, right))
    for value in shares.values():
        value.sort()
    return states, shares


@dataclass(frozen=True)
class DealRights:
    """How a deal's money divides between the rights, worked out once per deal for the hot loop.

    Each part is (right type, the fraction of an amount it takes, None for all of it); rights the deal
    gives nothing are left out."""

    recording: tuple[tuple[str, Decimal | None], ...]  # what a recording share (and the pro-rata) pays
    composition: tuple[tuple[str, Decimal | None], ...]  # what a composition share pays: publishing only
    composition_kept: Decimal | None  # the master part of a composition share, kept by the label

    @classmethod
    def of(cls, deal: Deal) -> "DealRights":
        def part(right_type: str, fraction: Decimal) -> tuple[str, Decimal | None]:
            return (right_type, None if fraction == 1 else fraction)

        master, publishing = deal.master_fraction, deal.publishing_fraction
        recording = tuple(part(rt, f) for rt, f in ((MASTER, master), (PUBLISHING, publishing)) if f)
        return cls(
            recording=recording,
            composition=tuple(p for p in recording if p[0] == PUBLISHING),
            composition_kept=master or None,
        )


class CloseComputation:
    """One close's computation, in three phases: `usage` (this month's pools), `revisions` (earlier
    allocations whose clip's attribution changed since), `pro_rata` (the deals' pro-rata pools)."""

    def __init__(self, period: Period):
        self.period = period
        self.label = period.label
        self.start, self.end = period.start, period.end
        self.splits = SplitBook(self.label.pk)
        self.deals = DealBook(period)
        self.fx = FxTable.load(period.month)
        self.books: dict[str, CurrencyBook] = {}
        self.lines: dict[LineKey, LineTotal] = {}
        self.allocations: list[Allocation] = []
        self.settlements: dict[tuple[int, str], SettlementTotals] = {}
        self.prorata: dict[int, Decimal] = defaultdict(Decimal)  # deal id -> exact pro-rata pool
        # deal id -> right type -> recording -> what it earned by attribution (by_attributed_share rule)
        self.recording_weight: dict[int, dict[str, dict[int, Decimal]]] = defaultdict(
            lambda: {right_type: defaultdict(Decimal) for right_type in RIGHT_TYPES}
        )
        self._rights: dict[int, DealRights] = {}
        # Parties some of whose money this close held (outside the licence, awaiting review): each gets a
        # statement showing what was held, even when nothing was payable (royalties.selectors.statement_held).
        self.held_parties: set[int] = set()

    # -- lookups -------------------------------------------------------------------------------
    def currency_book(self, currency: str) -> CurrencyBook:
        if currency not in self.books:
            self.books[currency] = CurrencyBook(currency)
        return self.books[currency]

    def rights_of(self, deal: Deal) -> DealRights:
        rights = self._rights.get(deal.pk)
        if rights is None:
            rights = self._rights[deal.pk] = DealRights.of(deal)
        return rights

    def boundaries(self) -> list[date]:
        """Days in the month from which a split or a deal changes: usage is priced per stretch between."""
        return sorted(self.splits.starts_within(self.start, self.end) | self.deals.changes_within())

    # -- distribution --------------------------------------------------------------------------
    def distribute(
        self,
        *,
        book: CurrencyBook,
        deal: Deal,
        clip_id: int,
        shares: list[ShareRow],
        amount: Decimal,
        split_on: date,
        usage_count: int,
        kind: str,
        reference: str = "",
    ) -> None:
        """An attributed amount over the clip's shares, each share over the rights it implicates, each
        right over the recording's split of that right in force on `split_on`.

        A `recording` share takes its part of every right the deal pays; a `composition` share only its
        publishing part, and its master part stays with the label. The hot loop of the close (a million
        party amounts at full size): locals, no default factories, plain-string keys.
        """
        adjustment = kind == ADJUSTMENT
        weights = self.recording_weight[deal.pk] if kind == EARNING else None
        # tuple.__new__ makes the LineKey without its generated Python-level __new__: a quarter of the
        # cost, for a million keys at full size.
        new_key = tuple.__new__
        split_on_day = self.splits.on
        partner_id, currency = deal.partner_id, book.currency
        parties, lines, by_right = book.parties, self.lines, book.by_right
        rights = self.rights_of(deal)
        kept_fraction = rights.composition_kept
        for recording_id, share, right in shares:
            part = amount * share
            if right == COMPOSITION:
                parts = rights.composition
                if kept_fraction is not None:
                    kept = part * kept_fraction
                    book.label += kept
                    book.composition_kept += kept
            else:
                parts = rights.recording
            for right_type, fraction in parts:
                right_part = part if fraction is None else part * fraction
                by_right[right_type] += right_part
                if weights is not None:
                    weights[right_type][recording_id] += right_part
                split = split_on_day(recording_id, right_type, split_on)
                if not split:
                    # A recording without a split of this right in force: the label's own (documented rule).
                    book.label += right_part
                    continue
                for party_id, party_share in split:
                    value = right_part * party_share
                    parties[party_id] += value
                    if adjustment:
                        book.party_adjustments[party_id] += value
                    key = new_key(
                        LineKey,
                        (
                            party_id,
                            kind,
                            partner_id,
                            recording_id,
                            clip_id,
                            currency,
                            reference,
                            right,
                            right_type,
                        ),
                    )
                    line = lines.get(key)
                    if line is None:
                        lines[key] = LineTotal(value, usage_count)
                    else:
                        line.amount += value
                        line.usage_count += usage_count

    def voice_fee(self, voice: VoiceTerms | None, usage_count: int, deal: Deal) -> Decimal:
        """A flat-rate voice model's fee for the clip's uses: rate x uses (plays) reported, converted into
        the deal's currency with the period's rates; owed by the partner on top of the pool. Nothing for a
        share of the pool or an undeclared clip."""
        if voice is None or voice.rate_per_use is None or not usage_count:
            return ZERO
        return voice.rate_per_use * usage_count * self.fx.rate(voice.rate_currency, deal.currency)

    def voice_pay(
        self,
        book: CurrencyBook,
        deal: Deal,
        clip_id: int,
        party_id: int,
        amount: Decimal,
        usage_count: int,
        reference: str = "",
    ) -> None:
        """Pay a voice model's party its part of a clip as its own line kind (`voice`)."""
        book.parties[party_id] += amount
        book.voice += amount
        key = LineKey(party_id, VOICE, deal.partner_id, None, clip_id, book.currency, reference, "", "")
        line = self.lines.get(key)
        if line is None:
            self.lines[key] = LineTotal(amount, usage_count)
        else:
            line.amount += amount
            line.usage_count += usage_count

    def note_held(self, deal: Deal, shares: list[ShareRow], split_on: date, voice_party: int | None) -> None:
        """Remember the parties a held clip's money would have gone to (the rights' splits in force on
        `split_on`, and the voice model's party when its part was held). Held clips are few: no hot path."""
        rights = self.rights_of(deal)
        for recording_id, _share, right in shares:
            for right_type, _fraction in rights.composition if right == COMPOSITION else rights.recording:
                for party_id, _ in self.splits.on(recording_id, right_type, split_on) or []:
                    self.held_parties.add(party_id)
        if voice_party is not None:
            self.held_parties.add(voice_party)

    # -- phases --------------------------------------------------------------------------------
    def usage(self) -> None:
        """This month's usage, grouped per (partner, currency, clip, stretch of days), priced and paid."""
        cuts = self.boundaries()
        bucket: F | Case | Value
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
        voices = clip_voice_models(self.label.pk)
        states, shares = attributions_load(
            Attribution.objects.filter(
                clip__label=self.label,
                pk__in=Clip.objects.filter(label=self.label).values("current_attribution_id"),
            )
        )
        for partner_id, currency, clip_id, split_on, revenue, count, line_count in groups:
            if isinstance(split_on, str):  # SQLite returns Case() dates as text
                split_on = date.fromisoformat(split_on)
            deal = self.deals.deal_for(partner_id, split_on)
            book = self.currency_book(deal.currency)
            # Sums of 6-place revenues have 6 places; quantizing removes SQLite's float noise.
            revenue = Decimal(revenue).quantize(REVENUE_QUANTUM) * self.fx.rate(currency, deal.currency)
            pool = revenue * deal.royalty_rate
            label_part = pool * deal.label_share
            attribution_id = current.get(clip_id)
            state = states.get(attribution_id) if attribution_id is not None else None
            # The voice model's part: its share of the pool after the label's, or its flat fee on top of
            # the pool. Paid once the attribution has checked the licence (fingerprinting.licence) and found
            # the clip inside it; otherwise held with the clip's money, and released with it (revisions).
            terms = voices.get(clip_id)
            fee = self.voice_fee(terms, count, deal)
            from_pool = (pool - label_part) * terms.pool_share if terms and terms.pool_share else ZERO
            voice_licensed = state is not None and state.review_state != OUTSIDE_LICENCE
            voice_held = ZERO
            if terms is not None and (from_pool or fee):
                if voice_licensed:
                    self.voice_pay(book, deal, clip_id, terms.party_id, from_pool + fee, count)
                else:
                    voice_held = from_pool + fee
            attributed = (pool - label_part - from_pool) * deal.attributed_fraction
            self.prorata[deal.pk] += pool - label_part - from_pool - attributed
            book.label += label_part
            book.label_part += label_part
            book.sources[partner_key(partner_id)] += pool + fee
            book.pools += pool
            book.voice_fees += fee
            settlement = self.settlements.get((partner_id, deal.currency))
            if settlement is None:
                settlement = self.settlements[(partner_id, deal.currency)] = SettlementTotals()
            settlement.lines += line_count
            settlement.usage += count
            settlement.revenue += revenue
            settlement.pool += pool
            settlement.voice_fees += fee
            settlement.deals[deal.pk].revenue += revenue
            settlement.deals[deal.pk].pool += pool
            settlement.deals[deal.pk].voice_fees += fee

            payable = state is not None and state.payable
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
                voice_held_exact=voice_held,
            )
            if state is not None and attribution_id is not None and payable:
                self.distribute(
                    book=book,
                    deal=deal,
                    clip_id=clip_id,
                    shares=shares[attribution_id],
                    amount=attributed,
                    split_on=split_on,
                    usage_count=count,
                    kind=EARNING,
                )
                self.prorata[deal.pk] += attributed * state.unattributed
            elif attributed or voice_held:
                book.holds[len(self.allocations)] = attributed + voice_held
                held_shares = shares[attribution_id] if attribution_id is not None and attributed else []
                self.note_held(deal, held_shares, split_on, terms.party_id if voice_held and terms else None)
            self.allocations.append(allocation)

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
        states, shares = attributions_load(Attribution.objects.filter(pk__in=ids))
        versions: dict[int | None, int] = dict(
            Attribution.objects.filter(pk__in=ids).values_list("pk", "version")
        )
        revised = []
        voices: dict[int, VoiceTerms] | None = None  # read when a held voice part is first released
        for old in stale:
            old_state = states.get(old.attribution_id) if old.attribution_id else None
            new_state = states.get(old.new_attribution_id) if old.new_attribution_id else None
            new_payable = new_state is not None and new_state.payable
            if not old.payable and not new_payable:
                continue  # still held; its money stays in suspense
            deal = old.deal
            book = self.currency_book(old.currency)
            reference = (
                f"corrects {old.period.code} allocation {old.pk} of clip {old.clip_id}: attribution "
                f"v{versions.get(old.attribution_id, '-')} -> v{versions.get(old.new_attribution_id, '-')}"
            )
            if old.payable and old_state is not None and old.attribution_id is not None:
                # The old distribution reversed: the same shares, rights and deal, negated.
                self.distribute(
                    book=book,
                    deal=deal,
                    clip_id=old.clip_id,
                    shares=shares[old.attribution_id],
                    amount=-old.attributed_exact,
                    split_on=old.split_on,
                    usage_count=0,
                    kind=ADJUSTMENT,
                    reference=reference,
                )
                self.prorata[deal.pk] -= old.attributed_exact * old_state.unattributed
                amount = old.attributed_exact
            else:
                # Released from suspense: exactly the rounded amount that was held for this clip.
                amount = old.held_amount
                book.sources[SUSPENSE_KEY] += amount
                book.released += amount
                if new_payable and old.voice_held_exact:
                    # The voice model's part of what was held goes to its party, in the proportion it was
                    # held (the rounded amount is what the ledger holds); the rest follows the attribution.
                    voice_part = amount * old.voice_held_exact / (old.attributed_exact + old.voice_held_exact)
                    if voices is None:
                        voices = clip_voice_models(self.label.pk)
                    terms = voices.get(old.clip_id)
                    if terms is not None:
                        self.voice_pay(book, deal, old.clip_id, terms.party_id, voice_part, 0, reference)
                        amount -= voice_part
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
            if new_state is not None and new_payable:
                self.distribute(
                    book=book,
                    deal=deal,
                    clip_id=old.clip_id,
                    shares=shares[old.new_attribution_id],
                    amount=amount,
                    split_on=old.split_on,
                    usage_count=0,
                    kind=ADJUSTMENT,
                    reference=reference,
                )
                self.prorata[deal.pk] += amount * new_state.unattributed
            else:
                book.holds[len(self.allocations)] = amount
                if old.new_attribution_id is not None:
                    self.note_held(deal, shares[old.new_attribution_id], old.split_on, None)
            self.allocations.append(allocation)
            revised.append(old.pk)
            self.deals.by_id.setdefault(deal.pk, deal)
        return revised

    def pro_rata(self) -> None:
        """Each deal's pro-rata pool, divided between the rights as the deal says, spread over the
        recordings with a split of that right in force on the last day of the month."""
        for deal_id, amount in sorted(self.prorata.items()):
            if not amount:
                continue
            deal = self.deals.by_id[deal_id]
            book = self.currency_book(deal.currency)
            for right_type, fraction in self.rights_of(deal).recording:
                self._pro_rata_right(
                    book, deal, right_type, amount if fraction is None else amount * fraction
                )

    def _pro_rata_right(self, book: CurrencyBook, deal: Deal, right_type: str, amount: Decimal) -> None:
        book.by_right[right_type] += amount
        catalog = self.splits.recordings_in_force(right_type, self.end)
        weights: dict[int, Decimal] = {}
        if deal.pro_rata_rule == ProRataRule.BY_ATTRIBUTED_SHARE:
            in_force = set(catalog)
            earned = self.recording_weight[deal.pk][right_type]
            weights = {r: w for r, w in earned.items() if w > 0 and r in in_force}
        if not weights:
            weights = dict.fromkeys(catalog, Decimal(1))
        if not weights:
            book.label += amount  # nothing licensed to spread over: the label keeps it
            return
        total = sum(weights.values(), ZERO)
        for recording_id in sorted(weights):
            part = amount * weights[recording_id] / total
            for party_id, party_share in self.splits.on(recording_id, right_type, self.end) or []:
                value = part * party_share
                book.parties[party_id] += value
                key = LineKey(
                    party_id,
                    PRO_RATA,
                    deal.partner_id,
                    recording_id,
                    None,
                    book.currency,
                    deal.pro_rata_rule,
                    "",
                    right_type,
                )
                line = self.lines.get(key)
                if line is None:
                    self.lines[key] = LineTotal(value, 0)
                else:
                    line.amount += value


def close_compute(period: Period) -> ClosePlan:
    with localcontext(EXACT):
        run = CloseComputation(period)
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
        fx=run.fx,
        held_parties=run.held_parties,
    )
