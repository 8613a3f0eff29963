"""Periods: parsing "2026-10", finding or creating a label's month, locking months for ingestion."""

from datetime import date

from django.db import connection

from royalties.errors import InvalidPeriod
from royalties.models import Period


def month_of(day: date) -> date:
    return day.replace(day=1)


def parse_period(value: str | date) -> date:
    """The first day of the month named by "YYYY-MM" (or any date in it)."""
    if isinstance(value, date):
        return month_of(value)
    try:
        year, month = str(value).strip().split("-")[:2]
        return date(int(year), int(month), 1)
    except (ValueError, TypeError):
        raise InvalidPeriod(f"period {value!r} is not a month like 2026-10", fields={"period": [str(value)]})


def periods_lock_for_ingest(pairs: set[tuple[int, date]]) -> dict[tuple[int, date], str]:
    """Statuses of (label_id, month) periods, created open when missing, held with a shared lock.

    The shared lock (PostgreSQL FOR SHARE) makes a close wait until every running ingestion into its
    month has committed, and makes ingestion wait while a close holds the month: no usage line slips
    into a month after its close has read it.
    """
    if not pairs:
        return {}
    Period.objects.bulk_create(
        [Period(label_id=label_id, month=month) for label_id, month in pairs], ignore_conflicts=True
    )
    label_ids = sorted({p[0] for p in pairs})
    months = sorted({p[1] for p in pairs})
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT label_id, month, status FROM royalties_period "
                "WHERE label_id = ANY(%s) AND month = ANY(%s) ORDER BY id FOR SHARE",
                [label_ids, months],
            )
            rows = cursor.fetchall()
    else:  # SQLite serialises writers on the whole database
        rows = Period.objects.filter(label_id__in=label_ids, month__in=months).values_list(
            "label_id", "month", "status"
        )
    return {(label_id, month): status for label_id, month, status in rows if (label_id, month) in pairs}
