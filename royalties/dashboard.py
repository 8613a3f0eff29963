"""Figures for the dashboard: reads across clips, attributions and closed periods of one label."""

import heapq
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Min, OuterRef, Subquery, Sum
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


# The window's figures (clips received and attributed per day, current shares per recording) are an
# aggregation over every clip of 30 days: 50,000 clips and 100,000 shares take ~250 ms to add up. Days
# before the live part are added up once per label and day and kept in the cache ("frozen"); the live
# part (LIVE_DAYS days up to now) is read on every view and added to them. So the figures are exact on
# every view, under writes:
# - a clip or a first attribution is stamped with the time of its insert, so rows written from now on
#   fall in the live part; the live part is two days, not one, so that a transaction still open across
#   midnight (a clip stamped 23:59 committed at 00:01) is counted where it belongs;
# - a clip of a frozen day that gets a new current attribution (a review, a re-attribution) moves the
#   shares of a frozen day: `frozen_invalidate` (subscribed to the attribution events) gives the label a
#   new generation, and the frozen part is added up again on the next view.
# The generation is a random token, not a counter: a token evicted from the cache is replaced by a new
# one, never by a value an older frozen entry was stored under. It is read before the rows, so a frozen
# part computed while a review commits is stored under the token the review then replaces.
LIVE_DAYS = 2
FROZEN_SECONDS = 26 * 3600  # a frozen entry serves one day (its key names the day); then it expires


def window_start(today: date) -> date:
    return today - timedelta(days=DAYS - 1)


def live_start(today: date) -> date:
    return today - timedelta(days=LIVE_DAYS - 1)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _generation_key(label_id: int) -> str:
    return f"stemma:dashboard:generation:{label_id}"


def _generation(label_id: int) -> str:
    token = cache.get(_generation_key(label_id))
    if token is None:
        token = uuid.uuid4().hex
        if not cache.add(_generation_key(label_id), token, None):
            token = cache.get(_generation_key(label_id)) or token
    return token


def frozen_invalidate(event_type: str, *, clip: Clip, attribution: Attribution | None) -> None:
    """Handler of fingerprinting's attribution events (after the commit): a clip created on a frozen day
    whose current attribution moved changes that day's shares. Older clips are outside the window."""
    created, today = timezone.localtime(clip.created_at).date(), timezone.localdate()
    if attribution is not None and window_start(today) <= created < live_start(today):
        cache.set(_generation_key(clip.label_id), uuid.uuid4().hex, None)


def _clip_label(clip_id: str) -> Subquery:
    """The label of the attribution's clip as a scalar subquery, looked up by primary key per row. A join
    would let PostgreSQL hash the label's whole clip table (a sequential scan of every clip, when one
    label holds most of them) to keep the few attributions of the last days; LIMIT 1 keeps the
    subquery a per-row lookup. For many attributions (the frozen days) the join is the cheaper one."""
    return Subquery(Clip.objects.filter(pk=OuterRef(clip_id)).values("label_id")[:1])


def _add_up(label: Label, since: date, until: date | None) -> dict:
    """Clips received and first attributed per day, and current shares per recording of the clips
    created, from `since` up to `until` (exclusive; None: up to now)."""
    clips = Clip.objects.filter(label=label, created_at__gte=_day_start(since))
    first = Attribution.objects.filter(version=1, created_at__gte=_day_start(since))
    if until is None:  # the live days: few attributions, each clip looked up
        first = first.alias(clip_label=_clip_label("clip_id")).filter(clip_label=label.pk)
    else:  # the frozen days: most of the window, one join
        clips = clips.filter(created_at__lt=_day_start(until))
        first = first.filter(clip__label=label, created_at__lt=_day_start(until))
    received = clips.annotate(day=TruncDate("created_at")).values_list("day").annotate(n=Count("id"))
    attributed = dict(first.annotate(day=TruncDate("created_at")).values_list("day").annotate(n=Count("id")))
    days = {day: (n, attributed.pop(day, 0)) for day, n in received}
    days.update({day: (0, n) for day, n in attributed.items()})
    current = clips.filter(current_attribution__isnull=False).values("current_attribution_id")
    shares = (
        AttributionShare.objects.filter(attribution_id__in=current)
        .values_list("recording_id")
        .annotate(total=Sum("share"), clips=Count("id"))
    )
    return {"days": days, "influence": {r: (Decimal(str(t)), n) for r, t, n in shares}}


def _frozen(label: Label, today: date) -> dict:
    key = f"stemma:dashboard:frozen:{label.pk}:{_generation(label.pk)}:{today.isoformat()}"
    figures = cache.get(key)
    if figures is None:
        figures = _add_up(label, window_start(today), live_start(today))
        cache.set(key, figures, FROZEN_SECONDS)
    return figures


def window_figures(*, label: Label, today: date) -> dict:
    """The window's figures: the frozen days from the cache plus the live part read now."""
    frozen, live = _frozen(label, today), _add_up(label, live_start(today), None)
    influence = dict(frozen["influence"])
    for recording_id, (total, clips) in live["influence"].items():
        before = influence.get(recording_id, (Decimal(0), 0))
        influence[recording_id] = (before[0] + total, before[1] + clips)
    return {"days": {**frozen["days"], **live["days"]}, "influence": influence}


def clips_per_day(*, window: dict, today: date) -> list[dict]:
    counts = window["days"]
    days = [window_start(today) + timedelta(days=i) for i in range(DAYS)]
    peak = max([*(n for pair in counts.values() for n in pair), 1])
    return [
        {"day": d, "received": counts.get(d, (0, 0))[0], "attributed": counts.get(d, (0, 0))[1],
         "received_h": 100 * counts.get(d, (0, 0))[0] / peak, "attributed_h": 100 * counts.get(d, (0, 0))[1] / peak}
        for d in days
    ]  # fmt: skip


def month_money(*, period: Period | None) -> list[dict]:
    """Per currency, the latest closed month's money as the month page walks it (royalties.month): the
    same selector, so the dashboard and the period page show the same cents."""
    if period is None:
        return []
    # Totals only: no statement rows, no held clips (the month page lists them).
    return dashboard_money(period_month(period=period, parties=0, held=False))


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


def top_by_influence(*, window: dict) -> list[dict]:
    """Sum of current shares per recording over the window's clips (created since `window_start`),
    grouped by recording id, names fetched for the top rows only."""
    totals = window["influence"]
    top = heapq.nsmallest(TOP, totals.items(), key=lambda item: (-item[1][0], item[0]))
    names = _recording_names([recording_id for recording_id, _ in top])
    return _bars(
        [
            _named_bar(names[recording_id], float(total), f"{total:.2f} over {clips} clips")
            for recording_id, (total, clips) in top
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
        # From the few waiting attributions (a partial index), each clip looked up by its pointer.
        "needs_review": Attribution.objects.filter(review_state__in=["needs_review", "disputed"])
        .alias(
            current_of=Subquery(
                Clip.objects.filter(current_attribution_id=OuterRef("pk")).values("label_id")[:1]
            )
        )
        .filter(current_of=label.pk)
        .count(),
    }


def dashboard(*, label: Label) -> dict:
    """The dashboard's figures, exact on every view: the 30 days' aggregation reads its frozen days from
    the cache (see `window_figures`); money, backlog and alerts are read from the database each time."""
    figures = _dashboard(label=label)
    figures["backlog"] = backlog(label=label)
    figures["unlicensed"] = list(unlicensed_uses(label=label)[:10])
    return figures


def _dashboard(*, label: Label) -> dict:
    today = timezone.localdate()
    period = Period.objects.filter(label=label, status=PeriodStatus.CLOSED).order_by("-month").first()
    window = window_figures(label=label, today=today)
    return {
        "days": clips_per_day(window=window, today=today),
        "money": month_money(period=period),
        "rights": revenue_by_right(period=period),
        "influence": top_by_influence(window=window),
        "earnings": top_by_earnings(period=period),
        "period": period,
    }
