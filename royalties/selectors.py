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
