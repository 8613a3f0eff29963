"""PostgreSQL connection dropped during a close: the close fails, is re-run, and yields one set of postings."""

import subprocess
import sys
import time
from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings

from ledger.models import Posting, Transaction
from royalties.models import Period, PeriodStatus, Statement
from royalties.reconcile import period_reconcile
from royalties.services import period_close
from tests.factories import LabelFactory, PartnerFactory, PartyFactory, RecordingFactory, split_for
from tests.ops.harness import ROOT, TcpProxy, app_env, database_url, wait_until
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
DAY = date(2026, 9, 10)

# Runs the real close command, pausing once the ledger is posted (not yet committed) until the test has
# cut the database connection; the close then touches the database again and must fail.
STALL_SCRIPT = """
import sys, time, pathlib
import django
django.setup()
import royalties.close.write as close
real = close.bulk_insert
def stalled(*args, **kwargs):
    count = real(*args, **kwargs)
    pathlib.Path(sys.argv[1]).write_text("half-way")
    while not pathlib.Path(sys.argv[2]).exists():
        time.sleep(0.05)
    return count
close.bulk_insert = stalled
from django.core.management import call_command
call_command("close_period", "--label", sys.argv[3], "--period", "2026-09")
"""


def close_counts(label) -> tuple[int, int, int]:
    prefix = f"royalties:close:{label.pk}:"
    return (
        Transaction.objects.filter(key__startswith=prefix).count(),
        Posting.objects.filter(transaction__key__startswith=prefix).count(),
        Statement.objects.filter(period__label=label).count(),
    )


def test_close_survives_a_dropped_database_connection(tmp_path):
    label, partner = LabelFactory(slug="dropped"), PartnerFactory()
    parties = [PartyFactory(label=label) for _ in range(3)]
    recordings = [RecordingFactory(label=label) for _ in range(2)]
    split_for(recordings[0], {parties[0]: "0.5", parties[1]: "0.3", parties[2]: "0.2"})
    split_for(recordings[1], {parties[2]: "1"})
    deal(label, partner, rate="0.5")
    revenue = Decimal(0)
    for i in range(20):
        clip = ClipFactory(label=label, partner=partner)
        attribute(clip, {recordings[0]: "0.6", recordings[1]: "0.3"}, unattributed="0.1")
        usage(clip, f"{10 + i}.37", day=DAY)
        revenue += Decimal(f"{10 + i}.37")

    db = settings.DATABASES["default"]
    proxy = TcpProxy(int(db.get("PORT") or 5432), db.get("HOST") or "127.0.0.1")
    proxy.start()
    half_way, go_on = tmp_path / "half-way", tmp_path / "go-on"
    env = app_env(DATABASE_URL=database_url(proxy.port))
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    close = subprocess.Popen(
        [sys.executable, "-c", STALL_SCRIPT, str(half_way), str(go_on), label.slug],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_until(half_way.exists, timeout=60, what="the close to reach the ledger")
        proxy.cut()  # the connection drops mid-transaction
        go_on.write_text("go")
        output, _ = close.communicate(timeout=60)
    finally:
        proxy.cut()
        if close.poll() is None:
            close.kill()
    print(f"close with a dropped connection exited {close.returncode}: {output.strip().splitlines()[-1:]}")
    assert close.returncode != 0

    period = Period.objects.get(label=label, month=date(2026, 9, 1))
    assert period.status == PeriodStatus.CLOSING and close_counts(label) == (0, 0, 0)

    started = time.monotonic()
    assert period_close(label=label, period="2026-09").created  # the re-run
    transactions, postings, statements = close_counts(label)
    print(f"re-run closed in {time.monotonic() - started:.2f} s: {transactions} transaction(s), "
          f"{postings} postings, {statements} statements")  # fmt: skip
    assert transactions == 1 and statements == 3
    receivable = sum(
        Posting.objects.filter(
            transaction__key__startswith=f"royalties:close:{label.pk}:", account__code__startswith="partner:"
        ).values_list("amount", flat=True),
        Decimal(0),
    )
    assert receivable == (revenue * Decimal("0.5")).quantize(Decimal("0.01"))
    assert period_reconcile(label=label, period="2026-09").ok
    assert not period_close(label=label, period="2026-09").created
    assert close_counts(label) == (transactions, postings, statements)
