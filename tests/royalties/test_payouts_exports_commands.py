"""Payout batches, exports, selectors, management commands and the beat task."""

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from ledger.selectors import account_balance_by_code
from royalties.errors import PayeeInvalid
from royalties.exports import payout_batch_csv, settlement_csv, statement_csv, statement_pdf
from royalties.models import PayoutStatus, Statement
from royalties.selectors import settlement_for_partner
from royalties.services import (
    payee_profile_set,
    payout_batch_create,
    payout_batch_mark_paid,
    payout_line_void,
    period_close,
)
from royalties.tasks import periods_close_previous_month_task
from tests.factories import PartnerFactory, PartyFactory, RecordingFactory, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db
SEP = date(2026, 9, 10)


@pytest.fixture
def closed(label, partner):
    party = PartyFactory(label=label, name="Ada Lovelace")
    recording = RecordingFactory(label=label, title="Analytical Engine")
    split_for(recording, {party: "1"})
    deal(label, partner, rate="0.5")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {recording: "1"})
    usage(clip, "100.00", day=SEP)
    period_close(label=label, period="2026-09")
    return party


def test_invalid_iban_is_rejected(closed):
    with pytest.raises(PayeeInvalid):
        payee_profile_set(party=closed, currency="EUR", iban="DE00 1234")
    with pytest.raises(PayeeInvalid):
        payee_profile_set(party=closed, currency="EUR", bic="NOTABIC")


def test_paid_line_voided_is_reversed_and_can_be_paid_again(label, closed):
    batch = payout_batch_create(label=label, currency="EUR")
    payout_batch_mark_paid(batch=batch, paid_on=date(2026, 10, 2))
    assert account_balance_by_code(code=f"party:{closed.pk}:payable", currency="EUR") == 0
    line = batch.lines.get()
    payout_line_void(line=line, reason="bank returned it", voided_on=date(2026, 10, 3))
    line.refresh_from_db()
    assert line.status == PayoutStatus.VOIDED and line.amount == Decimal("50.00")
    assert account_balance_by_code(code=f"party:{closed.pk}:payable", currency="EUR") == Decimal("50.00")
    again = payout_batch_create(label=label, currency="EUR")
    assert again.lines.get().amount == Decimal("50.00")
    assert "Ada Lovelace" in payout_batch_csv(again)


def test_statement_exports_are_readable(label, closed):
    statement = Statement.objects.get(party=closed)
    text = statement_csv(statement)
    assert "North Records" in text and "closing balance,50.00\n" in text and "Analytical Engine" in text
    pdf = statement_pdf(statement)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000


def test_settlements_are_the_partners_own(label, partner, closed):
    """Synthia sees its settlement; Bob (another partner) sees none."""
    (mine,) = settlement_for_partner(partner=partner)
    assert mine.amount_due == Decimal("50.00")
    assert "amount_due,50.00\n" in settlement_csv(mine)
    assert not settlement_for_partner(partner=PartnerFactory(slug="bob"), label=label).exists()
    assert settlement_for_partner(partner=partner, period="2026-09").count() == 1


def test_commands_close_and_reconcile(label, partner):
    party = PartyFactory(label=label)
    recording = RecordingFactory(label=label)
    split_for(recording, {party: "1"})
    deal(label, partner, rate="0.5")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {recording: "1"})
    usage(clip, "10.00", day=SEP)
    out = StringIO()
    call_command("close_period", "--label", "north", "--period", "2026-09", stdout=out)
    assert "closed" in out.getvalue()
    out = StringIO()
    call_command("reconcile", "--label", "north", "--period", "2026-09", stdout=out)
    assert "OK" in out.getvalue()


def test_reconcile_exits_1_on_a_difference(label, closed, monkeypatch):
    import royalties.reconcile as reconcile

    monkeypatch.setattr(reconcile, "_expected_pools", lambda period: {"EUR": Decimal("50.01")})
    with pytest.raises(SystemExit) as exited:
        call_command(
            "reconcile", "--label", "north", "--period", "2026-09", stdout=StringIO(), stderr=StringIO()
        )
    assert exited.value.code == 1


def test_beat_task_queues_last_month(label, monkeypatch):
    queued = []
    monkeypatch.setattr("royalties.tasks.period_close_task.delay", lambda *a: queued.append(a))
    today = timezone.now().date()
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    periods_close_previous_month_task()
    assert (label.pk, last_month) in queued


def test_fx_import_command(tmp_path):
    from royalties.models import FxRate

    rates = tmp_path / "rates.csv"
    rates.write_text("base,quote,rate\nEUR,USD,1.0821\nEUR,GBP,0.8712\n")
    out = StringIO()
    call_command("fx_import", str(rates), "--period", "2026-10", "--source", "ECB", stdout=out)
    assert "imported 2 rates" in out.getvalue()
    assert FxRate.objects.get(base="EUR", quote="USD").rate == Decimal("1.0821")


def test_fx_rate_of_a_closed_month_cannot_change(label, closed):
    from royalties.errors import FxRateLocked
    from royalties.services import fx_rate_set

    fx_rate_set(period="2026-10", base="EUR", quote="USD", rate=Decimal("1.1"), source="ECB")
    from royalties.models import FxRate

    FxRate.objects.create(month=date(2026, 9, 1), base="EUR", quote="USD", rate=Decimal("1.1"), source="ECB")
    with pytest.raises(FxRateLocked):
        fx_rate_set(period="2026-09", base="EUR", quote="USD", rate=Decimal("1.2"), source="ECB")
    with pytest.raises(FxRateLocked):  # a direct pair where a close may have used the inverse
        fx_rate_set(period="2026-09", base="USD", quote="EUR", rate=Decimal("0.9"), source="ECB")
    fx_rate_set(period="2026-09", base="EUR", quote="GBP", rate=Decimal("0.87"), source="ECB")  # a new pair


def test_close_task_closes_the_period(label, partner):
    from royalties.models import Period, PeriodStatus
    from royalties.tasks import period_close_task

    party = PartyFactory(label=label)
    recording = RecordingFactory(label=label)
    split_for(recording, {party: "1"})
    deal(label, partner, rate="0.5")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {recording: "1"})
    usage(clip, "10.00", day=SEP)
    period_close_task.delay(label.pk, "2026-09")
    period_close_task.delay(label.pk, "2026-09")  # safe to run twice
    period_close_task.delay(999_999, "2026-09")  # a label that is gone: returns quietly
    assert Period.objects.get(label=label).status == PeriodStatus.CLOSED
    assert Statement.objects.filter(party=party).count() == 1


def test_bulk_path_on_any_database(label, partner):
    from royalties.services import usage_ingest_copy

    clip = ClipFactory(label=label, partner=partner)
    rows = [
        ("t1", clip.pk, SEP, "DE", 3, Decimal("0.30"), "EUR", "usage"),
        ("t1", clip.pk, SEP, "DE", 3, Decimal("0.30"), "EUR", "usage"),
        ("t2", clip.pk, SEP, "DE", -3, Decimal("0.30"), "EUR", "usage"),
    ]
    result = usage_ingest_copy(partner=partner, lines=rows)
    assert (result.accepted, result.duplicates, result.rejected) == (1, 1, 1)
