"""PostgreSQL: usage lines partitioned by month (royalties.partitions). The migration moves existing rows,
the ingestion creates the months it needs, a line id stays unique across months, a close reads one
partition, beat creates months ahead, and archiving a closed month leaves the ledger exactly as it was."""

import gzip
import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, connections, transaction
from django.db.migrations.executor import MigrationExecutor

from ledger.models import Posting, Transaction
from royalties.models import Period, PeriodStatus, Statement, UsageLine
from royalties.partitions import (
    partition_name,
    usage_partitions,
    usage_partitions_ahead,
    usage_partitions_ensure,
)
from royalties.services import period_close, usage_ingest_copy
from tests.factories import PartyFactory, RecordingFactory, split_for
from tests.royalties.factories import ClipFactory, attribute, deal

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
SEP = date(2026, 9, 10)


def rows_per_table() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text, count(*) FROM royalties_usageline GROUP BY 1")
        return dict(cursor.fetchall())


def test_the_migration_moves_existing_rows_into_their_months():
    executor = MigrationExecutor(connection)
    executor.migrate([("royalties", "0011_voice_line")])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO royalties_usageline (label_id, partner_id, clip_id, partner_line_id, line_type, "
            "usage_date, territory, usage_count, net_revenue, currency, received_at) "
            "SELECT 1, 1, 1, 'm' || g, 'usage', date '2019-11-20' + g * 20, '', 1, 1, 'EUR', now() "
            "FROM generate_series(1, 30) g"
        )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    tables = rows_per_table()
    assert sum(tables.values()) == 30
    assert "royalties_usageline_default" not in tables
    assert tables[partition_name(date(2019, 12, 1))] == 2  # 2019-12-10 and 2019-12-30
    assert usage_partitions()[0] == date(2019, 12, 1)  # from the oldest row's month
    # The line-id rule came along: the same partner line id again is refused, in any month.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO royalties_usageline (label_id, partner_id, clip_id, partner_line_id, line_type, "
            "usage_date, territory, usage_count, net_revenue, currency, received_at) "
            "VALUES (1, 1, 1, 'm1', 'usage', '2020-06-01', '', 1, 1, 'EUR', now())"
        )
    assert UsageLine.objects.count() == 30
    UsageLine.objects.all().delete()


def test_copy_ingest_fills_each_month_and_keeps_line_ids_unique_across_months(label, partner):
    clip = ClipFactory(label=label, partner=partner)
    usage_partitions_ensure({SEP})  # as beat does ahead of time
    old = date(2011, 3, 4)  # before any month another test of this database may have created
    assert date(2011, 3, 1) not in usage_partitions()
    rows = [
        ("a", clip.pk, SEP, "DE", 1, Decimal("1"), "EUR", "usage"),
        ("b", clip.pk, old, "DE", 1, Decimal("2"), "EUR", "usage"),  # a late report for an old month
    ]
    result = usage_ingest_copy(partner=partner, lines=rows)
    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, 0)
    # The ingestion creates no partition (it would deadlock concurrent batches): the late report waits in
    # the default partition, found like any other line.
    assert date(2011, 3, 1) not in usage_partitions()
    assert rows_per_table() == {partition_name(date(2026, 9, 1)): 1, "royalties_usageline_default": 1}
    again = usage_ingest_copy(
        partner=partner, lines=[("a", clip.pk, date(2026, 8, 1), "DE", 1, Decimal("1"), "EUR", "usage")]
    )
    assert (again.accepted, again.duplicates) == (0, 1)  # another month, the same line id: not twice
    assert UsageLine.objects.count() == 2


def test_the_close_reads_one_partition(label, partner):
    clip = ClipFactory(label=label, partner=partner)
    usage_partitions_ensure({date(2026, m, 1) for m in range(1, 10)})
    usage_ingest_copy(
        partner=partner,
        lines=[
            (f"x{m}", clip.pk, date(2026, m, 5), "", 1, Decimal("1"), "EUR", "usage") for m in range(1, 10)
        ],
    )
    period = Period.objects.get(label=label, month=date(2026, 9, 1))  # the ingestion opened it
    plan = UsageLine.objects.filter(label=label, usage_date__gte=period.start, usage_date__lte=period.end)
    explained = plan.explain()
    assert partition_name(date(2026, 9, 1)) in explained
    assert partition_name(date(2026, 8, 1)) not in explained
    assert "royalties_usageline_default" not in explained


def test_beat_creates_months_ahead():
    created = usage_partitions_ahead(today=date(2031, 5, 17))
    assert created == [date(2031, 5, 1), date(2031, 6, 1), date(2031, 7, 1), date(2031, 8, 1)]
    assert usage_partitions_ahead(today=date(2031, 5, 17)) == []


def _ledger():
    return (
        list(Transaction.objects.order_by("pk").values_list("pk", "key")),
        list(Posting.objects.order_by("pk").values_list("pk", "amount", "account_id")),
        list(Statement.objects.order_by("pk").values_list("pk", "period_id")),
    )


def test_archiving_a_closed_month_detaches_it_and_leaves_the_ledger(label, partner, settings, tmp_path):
    parties = [PartyFactory(label=label) for _ in range(2)]
    recording = RecordingFactory(label=label)
    split_for(recording, {parties[0]: "0.6", parties[1]: "0.4"})
    deal(label, partner, rate="0.5")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {recording: "1"}, unattributed="0")
    usage_ingest_copy(
        partner=partner,
        lines=[(f"s{i}", clip.pk, SEP, "DE", 10, Decimal("3.50"), "EUR", "usage") for i in range(20)],
    )
    with pytest.raises(CommandError, match="not closed"):
        call_command("usage_archive", "2026-09")
    period_close(label=label, period="2026-09", closed_by=None)
    before = _ledger()
    assert before[1]  # the close posted

    call_command("usage_archive", "2026-09", "--drop")
    assert _ledger() == before
    assert not UsageLine.objects.filter(usage_date__month=9).exists()
    assert date(2026, 9, 1) not in usage_partitions()
    with default_storage.open("archives/usage/2026-09.csv.gz", "rb") as handle:
        lines = gzip.decompress(handle.read()).decode().splitlines()
    assert len(lines) == 21 and "partner_line_id" in lines[0]
    # A replay of an archived line is still not counted again (its month is closed anyway).
    replay = usage_ingest_copy(
        partner=partner, lines=[("s1", clip.pk, SEP, "DE", 10, Decimal("3.50"), "EUR", "usage")]
    )
    assert replay.accepted == 0
    assert Period.objects.get(label=label, month=date(2026, 9, 1)).status == PeriodStatus.CLOSED


def test_concurrent_ingestions_naming_a_new_month_create_its_partition_once():
    """Four transactions that all need the same missing month: one creates it, the others wait for it and
    find it (before the advisory lock, the losers failed on the catalog's unique name: a 500 in a burst)."""
    month = date(2031, 3, 1)
    barrier, failures, created = threading.Barrier(4), [], []

    def ingest():
        try:
            barrier.wait()
            with transaction.atomic():
                created.extend(usage_partitions_ensure({month}))
                time.sleep(0.2)  # hold the transaction open while the others try
        except Exception as exc:  # the assertion below reports it
            failures.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ingest) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and created == [month]
    assert month in usage_partitions()
