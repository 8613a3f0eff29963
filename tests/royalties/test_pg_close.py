"""PostgreSQL: the COPY ingestion path, concurrent closes, and a close killed half-way then re-run."""

import os
import signal
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from ledger.models import Posting, Transaction
from royalties.ingest import UsageLineInput
from royalties.models import Period, PeriodStatus, Statement, UsageLine
from royalties.reconcile import period_reconcile
from royalties.services import period_close, usage_ingest_copy
from tests.factories import PartyFactory, RecordingFactory, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
SEP = date(2026, 9, 10)
ROOT = Path(settings.BASE_DIR)


def _env() -> dict:
    env = dict(os.environ)
    db = connection.settings_dict
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env["DEBUG"] = "1"
    return env


@pytest.fixture
def month_of_usage(label, partner):
    """Twelve clips, three parties; pools: sum(revenue) x 0.5."""
    parties = [PartyFactory(label=label) for _ in range(3)]
    recordings = [RecordingFactory(label=label) for _ in range(2)]
    split_for(recordings[0], {parties[0]: "0.5", parties[1]: "0.3", parties[2]: "0.2"})
    split_for(recordings[1], {parties[2]: "1"})
    deal(label, partner, rate="0.5")
    for i in range(12):
        clip = ClipFactory(label=label, partner=partner)
        attribute(clip, {recordings[0]: "0.6", recordings[1]: "0.3"}, unattributed="0.1")
        usage(clip, f"{10 + i}.33", day=SEP)
    return sum(Decimal(f"{10 + i}.33") for i in range(12)) * Decimal("0.5")


def _close_counts(label):
    return (
        Transaction.objects.filter(key__startswith=f"royalties:close:{label.pk}:").count(),
        Posting.objects.filter(transaction__key__startswith=f"royalties:close:{label.pk}:").count(),
        Statement.objects.filter(period__label=label).count(),
    )


def test_copy_ingest_validates_and_skips_replays(label, partner):
    clip = ClipFactory(label=label, partner=partner)
    other = ClipFactory(label=label)  # another partner's clip
    rows = [
        ("c1", clip.pk, SEP, "DE", 10, Decimal("1.25"), "EUR", "usage"),
        ("c2", clip.pk, SEP, "", 5, Decimal("-1.00"), "EUR", "adjustment"),
        ("c3", other.pk, SEP, "DE", 1, Decimal("1"), "EUR", "usage"),
        ("c4", clip.pk, SEP, "DE", 1, Decimal("-1"), "EUR", "usage"),
        ("c5", clip.pk, SEP, "DE", 1, Decimal("NaN"), "EUR", "usage"),
        ("c6", clip.pk, SEP, "DE", 1, Decimal("1"), "ABC", "usage"),
        ("c7", clip.pk, date(2099, 1, 1), "DE", 1, Decimal("1"), "EUR", "usage"),
        ("c8", clip.pk, SEP, "DE", 10**20, Decimal("1"), "EUR", "usage"),
        ("c1", clip.pk, SEP, "DE", 10, Decimal("1.25"), "EUR", "usage"),  # repeated in the batch
    ]
    result = usage_ingest_copy(partner=partner, lines=rows)
    assert (result.accepted, result.duplicates, result.rejected) == (2, 1, 6)
    assert [(r.partner_line_id, r.reasons[0]) for r in result.rejections] == [
        ("c3", "clip_unknown"),
        ("c4", "negative_revenue_not_adjustment"),
        ("c5", "revenue_invalid"),
        ("c6", "currency_unknown"),
        ("c7", "date_out_of_range"),
        ("c8", "usage_count_invalid"),
    ]
    again = usage_ingest_copy(
        partner=partner,
        lines=[
            UsageLineInput(
                "c1",
                usage_date=SEP,
                usage_count=10,
                net_revenue=Decimal("1.25"),
                currency="EUR",
                clip_id=clip.pk,
            )
        ],
    )
    assert (again.accepted, again.duplicates) == (0, 1)
    assert UsageLine.objects.count() == 2


def test_copy_ingest_refuses_closed_periods(label, partner):
    clip = ClipFactory(label=label, partner=partner)
    Period.objects.create(label=label, month=date(2026, 9, 1), status=PeriodStatus.CLOSED)
    result = usage_ingest_copy(
        partner=partner, lines=[("x", clip.pk, SEP, "", 1, Decimal(1), "EUR", "usage")]
    )
    assert result.rejections[0].reasons == ("period_closed",)
    assert not UsageLine.objects.exists()


def test_two_concurrent_closes_yield_exactly_one(label, month_of_usage):
    command = [sys.executable, "manage.py", "close_period", "--label", label.slug, "--period", "2026-09"]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    said = sorted("already closed" in out.decode() for out, _ in outputs)
    assert said == [False, True]
    transactions, postings, statements = _close_counts(label)
    assert (transactions, statements) == (1, 3)
    assert period_reconcile(label=label, period="2026-09").ok


KILL_SCRIPT = """
import os, sys, time
import django
django.setup()
import royalties.close.write as close
real = close.bulk_insert
def stalled(*args, **kwargs):
    count = real(*args, **kwargs)
    open(sys.argv[1], "w").write("ledger posted, allocations written, not committed")
    time.sleep(120)
    return count
close.bulk_insert = stalled
from django.core.management import call_command
call_command("close_period", "--label", sys.argv[2], "--period", "2026-09")
"""


def test_close_killed_half_way_then_rerun_yields_one_set(label, month_of_usage, tmp_path):
    flag = tmp_path / "half-way"
    env = _env()
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(flag), label.slug], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert proc.poll() is None, "the close ended before reaching the half-way point"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    period = Period.objects.get(label=label, month=date(2026, 9, 1))
    assert period.status == PeriodStatus.CLOSING  # visible mark, nothing else survived
    assert _close_counts(label) == (0, 0, 0)

    result = period_close(label=label, period="2026-09")  # waits for the dead backend's lock to go
    assert result.created
    assert _close_counts(label)[0] == 1 and _close_counts(label)[2] == 3
    receivable = sum(
        Posting.objects.filter(account__code__startswith="partner:").values_list("amount", flat=True),
        Decimal(0),
    )
    assert receivable == month_of_usage.quantize(Decimal("0.01"))
    assert period_reconcile(label=label, period="2026-09").ok
    assert not period_close(label=label, period="2026-09").created
