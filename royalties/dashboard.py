"""Figures for the dashboard: reads across clips, attributions and closed periods of one label."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Min, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from catalog.models import Label, Recording, RecordingStatus
from fingerprinting.licence import unlicensed_uses
from fingerprinting.models import Attribution, AttributionShare, Clip, ClipStatus
from ledger.money import money_quantize
from royalties.models import Period, PeriodStatus, StatementLine
from royalties.month import dashboard_money, period_month

DAYS = 30
TOP = 8


def _bars(rows: list[dict]) -> list[dict]:
    """Rows (label, value, shown, ...) as horizontal bars in percent of the largest."""
    peak = max((r["value"] for r in rows), default=0) or 1
    return [{**row, "percent": 100 * row["value"] / peak} for row in rows]


def clips_per_day(*, label: Label, today: date) -> list[dict]:
    since = today - timedelta(days=DAYS - 1)
    received = dict(
        Clip.objects.filter(label=label, created_at__date__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
    )
    attributed = dict(
        Attribution.objects.filter(clip__label=label, version=1, created_at__date__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
    )
    days = [since + timedelta(days=i) for i in range(DAYS)]
    peak = max([*received.values(), *attributed.values(), 1])
    return [
        {"day": d, "received": received.get(d, 0), "attributed": attributed.get(d, 0),
         "received_h": 100 * received.get(d, 0) / peak, "attributed_h": 100 * attributed.get(d, 0) / peak}
        for d in days
    ]  # fmt: skip


def month_money(*, period: Period | None) -> list[dict]:
    """Per currency, the latest closed month's money as the month page walks it (royalties.month): the
    same selector, so the dashboard and the period page show the same cents."""
    if period is None:
        return []
    return dashboard_money(period_month(period=period, parties=0))  # totals only, no statement rows


RIGHTS_PARTS = [
    ("master_exact", "master"),
    ("publishing_exact", "publishing"),
    ("composition_kept_exact", "master part of composition shares, kept by the label"),
    ("label_share_exact", "label share"),
    ("voice_exact", "voice models"),
]


def revenue_by_right(*, period: Period | None) -> list[dict]:
    """Per currency, what the period's close paid through master and through publishing, from the
    figures the close wrote into its summary (periods closed before rights per share have none).
    Master and publishing include amounts the label keeps for a recording with no split of that right."""
    if period is None:
        return []
    out = []
    for currency, figures in sorted((period.summary or {}).get("currencies", {}).items()):
        if "master_exact" not in figures:
            continue
        amounts = [(name, Decimal(figures.get(key, "0"))) for key, name in RIGHTS_PARTS]
        total = sum((amount for _, amount in amounts), Decimal(0))
        out.append(
            {
                "currency": currency,
                "parts": [
                    {"name": name, "amount": amount, "percent": float(100 * amount / total) if total else 0.0}
                    for name, amount in amounts
                ],
            }
        )
    return out


def _recording_names(ids: list[int]) -> dict[int, dict]:
    """Title, artist and ISRC of the given recordings: same-titled recordings must be told apart."""
    rows = Recording.objects.filter(pk__in=ids).values("pk", "title", "display_artist", "isrc")
    return {r["pk"]: r for r in rows}


def _named_bar(recording: dict, value: float, shown: str) -> dict:
    return {
        "label": recording["title"],
        "artist": recording["display_artist"],
        "isrc": recording["isrc"],
        "recording_id": recording["pk"],
        "value": value,
        "shown": shown,
    }


def top_by_influence(*, label: Label, today: date) -> list[dict]:
    """Sum of current shares per recording over the last 30 days' clips. Grouped by recording id over
    the window's current attributions (an index range on the label's clips), names fetched for the top
    rows only."""
    current = Clip.objects.filter(
        label=label, created_at__gte=timezone.now() - timedelta(days=DAYS), current_attribution__isnull=False
    ).values("current_attribution_id")
    rows = list(
        AttributionShare.objects.filter(attribution_id__in=current)
        .values("recording_id")
        .annotate(total=Sum("share"), clips=Count("id"))
        .order_by("-total", "recording_id")[:TOP]
    )
    names = _recording_names([r["recording_id"] for r in rows])
    return _bars(
        [
            _named_bar(
                names[r["recording_id"]], float(r["total"]), f"{r['total']:.2f} over {r['clips']} clips"
            )
            for r in rows
        ]
    )


def top_by_earnings(*, period: Period | None) -> list[dict]:
    """What each recording earned in the period (by shares, pro rata, adjustments), grouped by recording
    id and currency: two recordings with one title stay two rows."""
    if period is None:
        return []
    written = (period.summary or {}).get("top_recordings")
    rows = (
        [{"recording_id": int(r), "currency": c, "total": Decimal(t)} for r, c, t in written[:TOP]]
        if written is not None
        else _top_by_earnings_query(period)
    )
    names = _recording_names([r["recording_id"] for r in rows])
    return _bars(
        [
            _named_bar(
                names[r["recording_id"]],
                float(r["total"]),
                f"{money_quantize(Decimal(str(r['total'])), r['currency']):,} {r['currency']}",
            )
            for r in rows
        ]
    )


def _top_by_earnings_query(period: Period) -> list[dict]:
    """For periods closed before the close wrote its top recordings into the summary."""
    return list(
        StatementLine.objects.filter(statement__period=period, recording__isnull=False)
        .values("recording_id", "currency")
        .annotate(total=Sum("amount_exact"))
        .order_by("-total", "recording_id")[:TOP]
    )


def backlog(*, label: Label) -> dict:
    clips = Clip.objects.filter(label=label, status__in=[ClipStatus.QUEUED, ClipStatus.PROCESSING])
    counts = defaultdict(int, clips.values_list("status").annotate(n=Count("id")))
    oldest = clips.aggregate(oldest=Min("created_at"))["oldest"]
    return {
        "queued": counts[ClipStatus.QUEUED],
        "processing": counts[ClipStatus.PROCESSING],
        "oldest_minutes": int((timezone.now() - oldest).total_seconds() // 60) if oldest else None,
        "recordings_pending": Recording.objects.filter(
            label=label, status__in=[RecordingStatus.PENDING, RecordingStatus.PROCESSING]
        ).count(),
        "needs_review": Clip.objects.filter(
            label=label, current_attribution__review_state__in=["needs_review", "disputed"]
        ).count(),
    }


DASHBOARD_CACHE_SECONDS = 60


def dashboard(*, label: Label) -> dict:
    """The dashboard's figures, cached per label for a minute: they aggregate 30 days of clips and
    attributions, which is too slow to repeat on every page view of a large label and need not be live."""
    key = f"stemma:dashboard:{label.pk}"
    figures = cache.get(key)
    if figures is None:
        figures = _dashboard(label=label)
        cache.set(key, figures, DASHBOARD_CACHE_SECONDS)
    figures["backlog"] = backlog(label=label)  # the backlog is cheap and people watch it move
    figures["unlicensed"] = list(unlicensed_uses(label=label)[:10])  # alerts are shown live, never cached
    return figures


def _dashboard(*, label: Label) -> dict:
    today = timezone.localdate()
    period = Period.objects.filter(label=label, status=PeriodStatus.CLOSED).order_by("-month").first()
    return {
        "days": clips_per_day(label=label, today=today),
        "money": month_money(period=period),
        "rights": revenue_by_right(period=period),
        "influence": top_by_influence(label=label, today=today),
        "earnings": top_by_earnings(period=period),
        "period": period,
    }
