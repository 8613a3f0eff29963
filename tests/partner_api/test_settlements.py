"""GET /settlements: the partner's settlements of closed months with the key's label, and no other."""

from datetime import date

import pytest

from royalties.models import PeriodStatus
from tests.partner_api.conftest import make_settlement as settle

pytestmark = pytest.mark.django_db


def test_a_key_sees_its_own_closed_settlements_only(world):
    mine = settle(world.a1, date(2026, 9, 1), "50.0000")
    settle(world.a1, date(2026, 10, 1), "7.0000", status=PeriodStatus.OPEN)  # not closed yet
    settle(world.b1, date(2026, 9, 1), "99.0000")  # same partner, other label
    settle(world.a2, date(2026, 9, 1), "11.0000")  # other partner, same label
    results = world.a1.client().get("/api/v1/settlements").json()["results"]
    assert [(r["id"], r["period"], r["amount_due"]) for r in results] == [(mine.pk, "2026-09", "50.0000")]
    assert world.a1.client().get("/api/v1/settlements", {"period": "2026-08"}).json()["results"] == []
    assert world.b2.client().get("/api/v1/settlements").json()["results"] == []


@pytest.mark.parametrize("period", ["2026-13", "99999-01", "last month", "2026-00"])
def test_bad_periods_are_400(world, period):
    response = world.a1.client().get("/api/v1/settlements", {"period": period})
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid", "invalid_period"}
