"""Celery tasks: thin, take ids, safe to run twice (the close is idempotent)."""

import logging
from datetime import date

from celery import shared_task
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import Label
from royalties.errors import CloseBlocked
from royalties.models import LabelRoyaltySettings
from royalties.services import period_close

logger = logging.getLogger(__name__)


@shared_task(autoretry_for=(ConnectionError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def period_close_task(label_id: int, period: str, closed_by_id: int | None = None) -> None:
    label = Label.objects.filter(pk=label_id).first()
    if label is None:
        return
    closed_by = get_user_model().objects.filter(pk=closed_by_id).first() if closed_by_id else None
    try:
        period_close(label=label, period=period, closed_by=closed_by)
    except CloseBlocked as exc:
        # Not a failure to retry: the month stays open and the period page says why on the next try.
        logger.warning("close of %s %s blocked: %s", label.slug, period, exc)


@shared_task
def periods_close_previous_month_task() -> list[int]:
    """Queue the close of last month for every label that has not turned automatic closing off."""
    today = timezone.now().date()
    last_month = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
    manual = set(LabelRoyaltySettings.objects.filter(auto_close=False).values_list("label_id", flat=True))
    queued = []
    for label_id in Label.objects.exclude(pk__in=manual).values_list("pk", flat=True):
        period_close_task.delay(label_id, f"{last_month:%Y-%m}")
        queued.append(label_id)
    return queued


@shared_task
def usage_partitions_ahead_task() -> list[str]:
    """Create next months' usage-line partitions ahead of the ingestion (PostgreSQL; a no-op elsewhere)."""
    from royalties.partitions import usage_partitions_ahead

    return [f"{month:%Y-%m}" for month in usage_partitions_ahead(today=timezone.now().date())]
