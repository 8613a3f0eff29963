"""GET /settlements: the partner's settlements of closed months with the key's label, and no other."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from royalties.models import PartnerSettlement, Period, PeriodStatus
from tests.partner_api.conftest import make_settlement as settle

pytestmark = pytest.mark.django_db


def test_a_key_sees_its_own_closed_settlements_only(world):
    mine = settle(world.a1, date(2026, 9, 1), "50.0000")
    settle(world.a1, date(2026, 10, 1), "7.0000", status=PeriodStatus.OPEN)  # not closed yet
    settle(world.b1, date(2026, 9, 1), "99.0000")  # same partner, other label
    settle(world.a2, date(2026, 9, 1), "11.0000")  # other partner, same label
    results = world.a1.client().get("/api/v1/settlements").json()["results"]
    assert [(r["id"], r["period"], r["amount_due"]) for r in results] == [(mine.pk, "2026-09", "50.00")]
    assert world.a1.client().get("/api/v1/settlements", {"period": "2026-08"}).json()["results"] == []
    assert world.b2.client().get("/api/v1/settlements").json()["results"] == []


@pytest.mark.parametrize("period", ["2026-13", "99999-01", "last month", "2026-00", ""])
def test_bad_periods_are_400_invalid_period(world, period):
    """As docs/api.md promises: `invalid_period`, not the generic `invalid`."""
    response = world.a1.client().get("/api/v1/settlements", {"period": period})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_period"
    assert "period" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("currency", "stored", "written"),
    [
        ("EUR", {"revenue": "100.125000", "pool": "50.0625", "due": "50.0600"}, ("100.13", "50.06", "50.06")),
        ("JPY", {"revenue": "12345.6", "pool": "6172.8", "due": "6173"}, ("12346", "6173", "6173")),
        ("BHD", {"revenue": "10.1235", "pool": "5.06175", "due": "5.0620"}, ("10.124", "5.062", "5.062")),
    ],
)
def test_amounts_are_decimal_strings_at_the_currency_minor_unit(world, currency, stored, written):
    """Stored exactly (24 places for revenue and pool), answered at the minor unit, rounded half-up by
    ledger.money (amount_due is booked at the minor unit already, so it is only written shorter)."""
    PartnerSettlement.objects.create(
        period=Period.objects.create(
            label=world.a1.label, month=date(2026, 9, 1), status=PeriodStatus.CLOSED
        ),
        partner=world.a1.partner,
        currency=currency,
        line_count=1,
        usage_count=1,
        revenue_exact=Decimal(stored["revenue"]),
        pool_exact=Decimal(stored["pool"]),
        amount_due=Decimal(stored["due"]),
        issued_at=timezone.now(),
        detail=[{"deal": 7, "revenue": stored["revenue"] + "0" * 10, "pool": stored["pool"]}],
    )
    (result,) = world.a1.client().get("/api/v1/settlements").json()["results"]
    assert (result["revenue"], result["pool"], result["amount_due"]) == written
    zero = {"EUR": "0.00", "JPY": "0", "BHD": "0.000"}[currency]  # closed before voice fees: none
    assert result["voice_fees"] == zero
    assert result["detail"] == [{"deal": 7, "revenue": written[0], "pool": written[1], "voice_fees": zero}]


def test_flat_rate_voice_fees_are_shown_on_top_of_the_pool(world):
    """A settlement with 2.00 of flat-rate voice fees on a 50.00 pool: 52.00 due, the fees named."""
    PartnerSettlement.objects.create(
        period=Period.objects.create(label=world.a1.label, month=date(2026, 9, 1), status=PeriodStatus.CLOSED),
        partner=world.a1.partner, currency="EUR", line_count=1, usage_count=1000,
        revenue_exact=Decimal("100"), pool_exact=Decimal("50"), voice_fees_exact=Decimal("2"),
        amount_due=Decimal("52.00"), issued_at=timezone.now(),
        detail=[{"deal": 7, "revenue": "100", "pool": "50", "voice_fees": "2"}],
    )  # fmt: skip
    (result,) = world.a1.client().get("/api/v1/settlements").json()["results"]
    assert (result["pool"], result["voice_fees"], result["amount_due"]) == ("50.00", "2.00", "52.00")
    assert result["detail"] == [{"deal": 7, "revenue": "100.00", "pool": "50.00", "voice_fees": "2.00"}]
