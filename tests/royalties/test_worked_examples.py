"""The issue's worked examples, each computed by hand in its docstring."""

from datetime import date
from decimal import Decimal

import pytest

from catalog.models import Party
from ledger.selectors import account_balance_by_code
from royalties.models import PartnerSettlement, Statement, StatementLine
from royalties.reconcile import period_reconcile
from royalties.services import period_close
from tests.factories import PartyFactory, RecordingFactory, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db
OCT = date(2026, 10, 15)


def balances(label, parties: list[Party], period="2026-10") -> dict[str, Decimal]:
    statements = Statement.objects.filter(period__label=label, period__month=date(2026, int(period[5:]), 1))
    by_party = {s.party_id: s for s in statements}
    return {p.name: by_party[p.pk].closing_balance if p.pk in by_party else None for p in parties}


@pytest.fixture
def catalog(label):
    p1, p2, p3 = (PartyFactory(label=label, name=n) for n in ("P1", "P2", "P3"))
    a = RecordingFactory(label=label, title="A")
    b = RecordingFactory(label=label, title="B")
    for recording in (a, b):
        split_for(recording, {p1: "0.5", p2: "0.3", p3: "0.2"})
    return {"p1": p1, "p2": p2, "p3": p3, "a": a, "b": b}


def test_one_clip_two_recordings_with_unattributed_remainder(label, partner, catalog):
    """Revenue 100.00 at rate 0.5 -> pool 50.00 (deal: all of the pool follows attribution).

    Attribution: A 0.6, B 0.3, unattributed 0.1.
      A: 50.00 x 0.6 = 30.00   B: 50.00 x 0.3 = 15.00   unattributed: 50.00 x 0.1 = 5.00
    The unattributed 5.00 goes pro-rata, equal per licensed recording (A and B): 2.50 each.
    So A earns 32.50 and B 17.50; each recording's split is P1 50% / P2 30% / P3 20%:
      P1 = 0.5 x 50.00 = 25.00   P2 = 0.3 x 50.00 = 15.00   P3 = 0.2 x 50.00 = 10.00
    Per recording: P1 gets 15.00 + 7.50 from attribution and 1.25 + 1.25 pro-rata.
    Partner owes 50.00; 25.00 + 15.00 + 10.00 = 50.00.
    """
    deal(label, partner, rate="0.5")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {catalog["a"]: "0.6", catalog["b"]: "0.3"}, unattributed="0.1")
    usage(clip, "100.00", day=OCT)

    result = period_close(label=label, period="2026-10")

    assert result.created
    parties = [catalog["p1"], catalog["p2"], catalog["p3"]]
    assert balances(label, parties) == {
        "P1": Decimal("25.00"),
        "P2": Decimal("15.00"),
        "P3": Decimal("10.00"),
    }
    settlement = PartnerSettlement.objects.get(period=result.period)
    assert settlement.amount_due == Decimal("50.00")
    assert account_balance_by_code(code=f"party:{catalog['p1'].pk}:payable", currency="EUR") == Decimal(
        "25.00"
    )
    p1_lines = StatementLine.objects.filter(statement__party=catalog["p1"], kind="earning")
    assert sorted(line.amount_exact for line in p1_lines) == [Decimal("7.5"), Decimal("15")]
    assert period_reconcile(label=label, period="2026-10").ok


def test_thirds_are_rounded_by_largest_remainder(label, partner):
    """Revenue 10.00 at rate 1 -> pool 10.00, one recording split equally in thirds.

    Exact: 3.3333... each. Floors 3.33 x 3 = 9.99; the missing cent goes to the largest remainder,
    ties broken by the smaller party id: the first party gets 3.34, the others 3.33; sum 10.00.
    """
    parties = [PartyFactory(label=label, name=f"T{i}") for i in range(3)]
    recording = RecordingFactory(label=label)
    split_for(recording, {parties[0]: "0.333334", parties[1]: "0.333333", parties[2]: "0.333333"})
    deal(label, partner, rate="1")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {recording: "1"})
    usage(clip, "10.00", day=OCT)
    period_close(label=label, period="2026-10")
    # exact: 3.33334, 3.33333, 3.33333 -> floors 3.33 each, one cent to the largest remainder (T0).
    assert balances(label, parties) == {"T0": Decimal("3.34"), "T1": Decimal("3.33"), "T2": Decimal("3.33")}
