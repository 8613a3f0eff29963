"""Functions that read royalties state (statements, settlements, periods)."""

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from catalog.models import Label, Partner, Recording
from fingerprinting.models import Clip
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


def statement_held_outside_licence(*, statement: Statement) -> list[dict]:
    """What the statement's party would have earned in its period from clips held outside the licence:
    the held attributed amount x the share x the right's part of the deal x the party's split share, as
    the close would have paid it (royalties.close.compute.CloseComputation.distribute). Not owed, not in
    the statement's totals: shown apart, so the artist sees what the licence breach held back."""
    from catalog.models import Split, SplitShare
    from fingerprinting.models import AttributionShare, ShareRight, UnlicensedUse
    from royalties.close.compute import DealRights

    held = ClipAllocation.objects.filter(
        period=statement.period,
        payable=False,
        attribution_id__in=UnlicensedUse.objects.filter(label_id=statement.period.label_id).values(
            "attribution_id"
        ),
    ).select_related("deal", "clip")
    rows = []
    for allocation in held:
        if allocation.attribution_id is None:  # not reachable: the filter needs an attribution
            continue
        rights = DealRights.of(allocation.deal)
        for share in AttributionShare.objects.filter(attribution_id=allocation.attribution_id).select_related(
            "recording"
        ):
            parts = rights.composition if share.right == ShareRight.COMPOSITION else rights.recording
            for right_type, fraction in parts:
                splits = Split.objects.filter(
                    recording_id=share.recording_id, right_type=right_type
                ).in_force(on=allocation.split_on)
                party_share = (
                    SplitShare.objects.filter(split__in=splits, party_id=statement.party_id)
                    .values_list("share", flat=True)
                    .first()
                )
                if not party_share:
                    continue
                amount = allocation.attributed_exact * share.share * (fraction or 1) * party_share
                rows.append(
                    {"clip": allocation.clip, "recording": share.recording, "right_type": right_type,
                     "currency": allocation.currency, "amount": amount}
                )  # fmt: skip
    return rows


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
