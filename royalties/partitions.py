"""Monthly partitions of the usage-line table on PostgreSQL (docs/scaling.md, "Usage lines").

`royalties_usageline` is range-partitioned by `usage_date`, one partition per calendar month
(`royalties_usageline_y2026m10`), so a label's close reads one partition and an old month can be detached
and archived whole. Partitions are created ahead by beat (`usage_partitions_ahead_task`), in a
transaction of their own. The ingestion never creates one: creating a partition next to the default one
needs an exclusive lock on the default partition, which a concurrent ingestion may hold while it waits
for the creator (a deadlock seen under a burst of batches). A late report for a month with no partition
lands in the default partition: correct, only not pruned.

A partitioned table's unique indexes must contain the partition key, but a partner's line id is unique
across all months. That rule lives in `royalties_usage_line_key` (partner, line id): the ingestion claims
a batch's keys first (`usage_line_keys_claim`, ON CONFLICT DO NOTHING, so a replay or a concurrent
writer's line is skipped) and inserts only the lines it claimed; any other insert is checked by a
statement trigger, which fails on a stored line id as the unique index did. Keys outlive an archived
partition, so a replay of an archived line never counts twice.

SQLite (the embedded default) keeps one plain table with its unique constraint: nothing here runs there.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from django.db import connection, transaction

from royalties.periods import month_of

PARENT = "royalties_usageline"
KEY_TABLE = "royalties_usage_line_key"
# Advisory lock key serialising partition creation (any fixed 64-bit number unused elsewhere).
PARTITION_CREATE_LOCK = 0x5354454D_50415254  # "STEMPART"
DEFAULT = "royalties_usageline_default"
# Months created ahead of today by beat (creating one takes a lock that waits for running ingestions and
# closes, so a quiet night is the better time); a month beyond them goes to the default partition.
MONTHS_AHEAD = 3
_NAME = re.compile(r"^royalties_usageline_y(\d{4})m(\d{2})$")


def partitioned() -> bool:
    """True when the usage table is partitioned here (PostgreSQL after migration 0010)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = %s::regclass", [PARENT])
        return cursor.fetchone() is not None


def usage_line_keys_claim(*, partner_id: int, line_ids: list[str]) -> set[str]:
    """Claim line ids for a partner; returns those this call claimed (the others were stored before, or
    are being stored by a concurrent ingestion, which this waits for)."""
    if not line_ids:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {KEY_TABLE} (partner_id, partner_line_id) SELECT %s, unnest(%s::text[]) "
            "ON CONFLICT DO NOTHING RETURNING partner_line_id",
            [partner_id, line_ids],
        )
        return {row[0] for row in cursor.fetchall()}


@contextmanager
def line_keys_claimed() -> Iterator[None]:
    """Inserts inside have claimed their keys already: the key trigger leaves them alone."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('stemma.usage_line_keys_claimed', 'on', true)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('stemma.usage_line_keys_claimed', 'off', true)")


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def usage_partitions() -> list[date]:
    """The months that have a partition attached, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = [date(int(m[1]), int(m[2]), 1) for m in map(_NAME.match, names) if m]
    return sorted(months)


def usage_partitions_ensure(months: set[date] | list[date]) -> list[date]:
    """Create the partitions of these months that are missing; returns the months created."""
    if not months or not partitioned():
        return []
    wanted = {month_of(m) for m in months}
    if not wanted - set(usage_partitions()):
        return []
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        # Concurrent ingestions naming the same new month would both try to create its partition, and the
        # second would fail on the catalog's unique name (CREATE TABLE IF NOT EXISTS is not safe against a
        # concurrent CREATE). One at a time, until the creating transaction commits; then look again.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_CREATE_LOCK])
        for month in sorted(wanted - set(usage_partitions())):
            # A month whose rows already sit in the default partition stays there (still correct, only
            # not pruned): attaching its own partition would have to move them under a parent lock.
            cursor.execute(
                f"SELECT 1 FROM {DEFAULT} WHERE usage_date >= %s AND usage_date < %s LIMIT 1",  # noqa: S608
                [month, next_month(month)],
            )
            if cursor.fetchone():
                continue
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF {PARENT} "
                "FOR VALUES FROM (%s) TO (%s)",
                [month, next_month(month)],
            )
            created.append(month)
    return created


def usage_partitions_ahead(*, today: date, months_ahead: int = MONTHS_AHEAD) -> list[date]:
    month = month_of(today)
    wanted = []
    for _ in range(months_ahead + 1):
        wanted.append(month)
        month = next_month(month)
    return usage_partitions_ensure(wanted)


def usage_partition_detach(*, month: date) -> str:
    """Detach a month's partition into a standalone table (same name) and return its name. Its rows
    leave every query on usage lines; postings, statements and line keys are untouched."""
    name = partition_name(month_of(month))
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
    return name


class ArchiveRefused(Exception):
    """The month cannot be archived (not partitioned here, a period still open, no own partition)."""


def usage_month_archive(*, month: date, export: bool = True, drop: bool = False) -> dict:
    """Archive a month of usage lines: check every label's period of it is closed, export its rows as
    gzipped CSV through the default storage (`archives/usage/<YYYY-MM>.csv.gz`), detach its partition,
    and with `drop` drop the detached table. The ledger (transactions, postings, statements) and the
    line keys are never read or written, so balances and statements stay exactly as they were and a
    replayed archived line is still not counted twice.
    """
    import gzip
    import tempfile

    from django.core.files import File
    from django.core.files.storage import default_storage

    from royalties.models import Period, PeriodStatus

    month = month_of(month)
    if not partitioned():
        raise ArchiveRefused("usage lines are partitioned only on PostgreSQL")
    if month not in usage_partitions():
        raise ArchiveRefused(f"{month:%Y-%m} has no partition of its own (nothing to detach)")
    still_open = list(
        Period.objects.filter(month=month)
        .exclude(status=PeriodStatus.CLOSED)
        .values_list("label_id", flat=True)
    )
    if still_open:
        raise ArchiveRefused(f"{month:%Y-%m} is not closed for labels {sorted(still_open)}")
    name = partition_name(month)
    result: dict = {"month": f"{month:%Y-%m}", "table": name, "export": None, "dropped": False}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608 (a name made from a date)
        result["lines"] = cursor.fetchone()[0]
        if export:
            with tempfile.TemporaryFile() as raw:
                with (
                    gzip.GzipFile(fileobj=raw, mode="wb") as archive,
                    cursor.cursor.copy(f"COPY {name} TO STDOUT WITH (FORMAT csv, HEADER)") as copy,
                ):
                    for block in copy:
                        archive.write(block)
                raw.seek(0)
                stored = default_storage.save(f"archives/usage/{month:%Y-%m}.csv.gz", File(raw))
            result["export"] = stored
    usage_partition_detach(month=month)
    if drop:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {name}")
        result["dropped"] = True
    return result
