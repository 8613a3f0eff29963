"""Functions that read royalties state (statements, settlements, periods)."""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from catalog.models import Label, Partner, Recording
from fingerprinting.models import Clip
from ledger.money import EXACT
from royalties.models import (
    ClipAllocation,
    Deal,
    PartnerSettlement,
    Period,
    PeriodStatus,
    Statement,
    StatementLine,
    money_field,
)
from royalties.periods import parse_period


def settlement_for_partner(
    *, partner: Partner, label: Label | None = None, period: str | date | None = None
) -> QuerySet[PartnerSettlement]:
    """The partner's own settlements of closed periods (for GET /api/v1/settlements), newest first."""
    settlements = PartnerSettlement.objects.filter(partner=partner, period__status=PeriodStatus.CLOSED)
    if label is not None:
        settlements = settlements.filter(period__label=label)
    if period is not None:
        settlements = settlements.filter(period__month=parse_period(period))
    return settlements.select_related("period", "period__label", "partner").order_by(
        "-period__month", "period__label__slug", "currency"
    )


def period_get(*, label: Label, period: str | date) -> Period | None:
    return Period.objects.filter(label=label, month=parse_period(period)).first()


def statements_for_period(*, label: Label, period: str | date) -> QuerySet[Statement]:
    return (
        Statement.objects.filter(period__label=label, period__month=parse_period(period))
        .select_related("party", "period", "period__label")
        .order_by("number")
    )


def statement_lines(*, statement: Statement) -> QuerySet[StatementLine]:
    return statement.lines.select_related("partner", "recording", "clip").order_by("kind", "id")


def recording_earnings(*, recording: Recording) -> list[Mapping[str, Any]]:
    """What a recording earned per closed period and currency (attributed, pro-rata and adjustments)."""
    return list(
        StatementLine.objects.filter(recording=recording, kind__in=["earning", "pro_rata", "adjustment"])
        .values(month=F("statement__period__month"), line_currency=F("currency"))
        .annotate(total=Sum("amount_exact"), clips=Count("clip", distinct=True))
        .order_by("-month", "line_currency")
    )


def label_closed_through(label: Label) -> date | None:
    """The last day of the label's latest closed (or closing) period: consent never starts on or before it."""
    latest = (
        Period.objects.filter(label=label, status__in=[PeriodStatus.CLOSED, PeriodStatus.CLOSING])
        .order_by("-month")
        .first()
    )
    return latest.end if latest else None


def partner_licensed(label: Label, partner: Partner, on: date) -> bool:
    """Whether a deal licenses the label's catalog to the partner on a date. A label that has recorded no
    deal at all (a catalog being set up, the demo before its deals) is not checked: nothing is priced
    without a deal anyway, and the close refuses usage it cannot price."""
    deals = Deal.objects.filter(label=label)
    return not deals.exists() or deals.filter(partner=partner).in_force(on=on).exists()


def period_held_outside_licence(*, period: Period) -> list[dict]:
    """Per currency, what the period's close held because the clip drew on a recording outside the
    licence (fingerprinting.licence): in suspense, never paid, shown apart from the statements' earnings."""
    from fingerprinting.models import UnlicensedUse

    rows = (
        ClipAllocation.objects.filter(
            period=period,
            payable=False,
            attribution_id__in=UnlicensedUse.objects.filter(label_id=period.label_id).values(
                "attribution_id"
            ),
        )
        .values("currency")
        .annotate(amount=Sum("attributed_exact"), clips=Count("clip_id", distinct=True))
        .order_by("currency")
    )
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class HeldRow:
    """Money of a statement's party that its period's close held: never in the statement's totals."""

    clip: Clip
    recording: Recording | None  # None for a voice model's part
    right_type: str  # master / publishing, or "voice"
    currency: str
    amount: Decimal  # exact: what the close would have paid the party
    reason: str
    outside_licence: bool


def _held_reason(allocation: ClipAllocation, outside: set[int]) -> str:
    from royalties.month import held_reason

    attribution = allocation.attribution
    if attribution is not None and attribution.pk in outside:
        return "outside the licence"
    return held_reason(
        attribution.review_state if attribution else None, attribution.review_reasons if attribution else None
    )


def statement_held(*, statement: Statement) -> list[HeldRow]:
    """What the statement's party would have earned in its period from the clips whose money the close
    held (uses outside the licence, attributions waiting for review, a voice model's part held with its
    clip): the held attributed amount x the share x the right's part of the deal x the party's split share
    in force, as the close would have paid it (royalties.close.compute.CloseComputation.distribute), and a
    voice model's held part to its party. Not owed, not in the statement's totals: shown apart, so the
    artist sees what was held back and why. Reads only the allocations that concern the party."""
    from catalog.models import Split, SplitShare
    from fingerprinting.models import AttributionShare, ShareRight, UnlicensedUse
    from royalties.close.compute import DealRights

    party_id, period = statement.party_id, statement.period
    party_recordings = SplitShare.objects.filter(party_id=party_id).values("split__recording_id")
    held = list(
        ClipAllocation.objects.filter(period=period, payable=False)
        .exclude(held_amount=0)
        .filter(
            Q(attribution_id__in=AttributionShare.objects.filter(recording_id__in=party_recordings).values(
                "attribution_id"
            ))
            | Q(voice_held_exact__gt=0, clip__voice_model__party_id=party_id)
        )
        .select_related("deal", "clip", "clip__voice_model", "attribution")
        .order_by("clip_id", "id")
    )  # fmt: skip
    if not held:
        return []
    attribution_ids = {a.attribution_id for a in held if a.attribution_id}
    outside = set(
        UnlicensedUse.objects.filter(attribution_id__in=attribution_ids).values_list(
            "attribution_id", flat=True
        )
    )
    shares: dict[int, list[AttributionShare]] = defaultdict(list)
    for share in AttributionShare.objects.filter(
        attribution_id__in=attribution_ids, recording_id__in=party_recordings
    ).select_related("recording"):
        shares[share.attribution_id].append(share)
    recording_ids = {share.recording_id for rows in shares.values() for share in rows}
    versions: dict[tuple[int, str], list[tuple[date, int]]] = defaultdict(list)
    for recording_id, right_type, start, split_id in Split.objects.filter(
        recording_id__in=recording_ids
    ).values_list("recording_id", "right_type", "effective_from", "pk"):
        versions[(recording_id, right_type)].append((start, split_id))
    party_share = dict(
        SplitShare.objects.filter(split__recording_id__in=recording_ids, party_id=party_id).values_list(
            "split_id", "share"
        )
    )

    def share_on(recording_id: int, right_type: str, day: date) -> Decimal | None:
        in_force = [v for v in versions.get((recording_id, right_type), []) if v[0] <= day]
        return party_share.get(max(in_force)[1]) if in_force else None

    rows = []
    with localcontext(EXACT):
        for allocation in held:
            reason = _held_reason(allocation, outside)
            is_outside = allocation.attribution_id in outside
            rights = DealRights.of(allocation.deal)
            for share in shares.get(allocation.attribution_id or 0, []):
                parts = rights.composition if share.right == ShareRight.COMPOSITION else rights.recording
                for right_type, fraction in parts:
                    split_share = share_on(share.recording_id, right_type, allocation.split_on)
                    if not split_share:
                        continue
                    amount = allocation.attributed_exact * share.share * (fraction or 1) * split_share
                    rows.append(
                        HeldRow(allocation.clip, share.recording, right_type, allocation.currency, amount, reason, is_outside)
                    )  # fmt: skip
            model = allocation.clip.voice_model
            if allocation.voice_held_exact and model is not None and model.party_id == party_id:
                rows.append(
                    HeldRow(allocation.clip, None, "voice", allocation.currency, allocation.voice_held_exact, reason, is_outside)
                )  # fmt: skip
    return rows


def held_totals(rows: list[HeldRow]) -> list[tuple[str, Decimal]]:
    """(currency, exact total) of held rows, by currency."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row.currency] += row.amount
    return sorted(totals.items())


def clips_with_held_money(clips: QuerySet[Clip]) -> QuerySet[Clip]:
    """Annotate clips with the money held on them and not yet released (`money_held`, `money_currency`):
    the current allocations of closed months that were put in suspense (a later close that finds the
    clip reviewed releases them and marks them not current). Registered as the review queue's money
    (fingerprinting.review); the partial index on current allocations by clip serves the subqueries."""
    held = ClipAllocation.objects.filter(clip=OuterRef("pk"), is_current=True).exclude(held_amount=0)
    total = held.values("clip").annotate(total=Sum("held_amount")).values("total")
    currency = held.order_by("currency").values("currency")[:1]
    return clips.annotate(
        money_held=Coalesce(
            Subquery(total, output_field=money_field()), Value(Decimal(0)), output_field=money_field()
        ),
        money_currency=Coalesce(Subquery(currency), Value("")),
    )
