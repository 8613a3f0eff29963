"""royalties.services.usage_ingest: validation per line, replays counted once."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from royalties.ingest import UsageLineInput
from royalties.models import UsageLine
from royalties.services import usage_ingest
from tests.factories import PartnerFactory
from tests.royalties.factories import ClipFactory

pytestmark = pytest.mark.django_db
DAY = date(2026, 9, 1)
_runs = count()


def line(clip, line_id="L1", **over) -> UsageLineInput:
    values = dict(
        partner_line_id=line_id,
        clip_id=clip.pk if clip else None,
        usage_date=DAY,
        usage_count=10,
        net_revenue=Decimal("1.50"),
        currency="EUR",
        territory="DE",
    )
    values.update(over)
    return UsageLineInput(**values)


@pytest.fixture
def clip(label, partner):
    return ClipFactory(label=label, partner=partner, external_id="ext-1")


def test_accepts_valid_lines_by_our_id_or_the_partners(clip, partner):
    result = usage_ingest(
        partner=partner,
        lines=[line(clip, "a"), line(None, "b", clip_external_id="ext-1")],
    )
    assert (result.accepted, result.duplicates, result.rejected) == (2, 0, 0)
    assert set(UsageLine.objects.values_list("clip_id", flat=True)) == {clip.pk}
    assert UsageLine.objects.get(partner_line_id="a").label_id == clip.label_id


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"net_revenue": Decimal("NaN")}, "revenue_invalid"),
        ({"net_revenue": Decimal("Infinity")}, "revenue_invalid"),
        ({"net_revenue": Decimal("1.0000001")}, "revenue_precision"),
        ({"net_revenue": 1.5}, "revenue_invalid"),
        ({"currency": "EURO"}, "currency_unknown"),
        ({"currency": "XXX"}, "currency_unknown"),
        ({"usage_count": -1}, "usage_count_invalid"),
        ({"usage_count": 2**63}, "usage_count_invalid"),
        ({"net_revenue": Decimal("-1.00")}, "negative_revenue_not_adjustment"),
        ({"line_type": "refund"}, "line_type_unknown"),
        ({"usage_date": date(1999, 12, 31)}, "date_out_of_range"),
        ({"usage_date": datetime(2026, 9, 1, 12, 0)}, "date_out_of_range"),
        ({"territory": "Germany"}, "territory_invalid"),
        ({"partner_line_id": ""}, "partner_line_id_invalid"),
    ],
)
def test_rejects_invalid_lines_and_writes_nothing_of_them(clip, partner, override, reason):
    result = usage_ingest(partner=partner, lines=[line(clip, "ok"), line(clip, "bad", **override)])
    assert result.accepted == 1
    (rejection,) = result.rejections
    assert rejection.index == 1 and reason in rejection.reasons
    assert list(UsageLine.objects.values_list("partner_line_id", flat=True)) == ["ok"]


def test_future_dates_are_rejected(clip, partner):
    tomorrow = timezone.now().date() + timedelta(days=1)
    result = usage_ingest(partner=partner, lines=[line(clip, usage_date=tomorrow)])
    assert result.rejections[0].reasons == ("date_out_of_range",)


def test_negative_revenue_is_allowed_on_adjustment_lines(clip, partner):
    result = usage_ingest(
        partner=partner, lines=[line(clip, net_revenue=Decimal("-2.00"), line_type="adjustment")]
    )
    assert result.accepted == 1


def test_another_partners_clip_is_unknown(clip):
    """Bob (another partner) cannot report usage on Alice's clip."""
    bob = PartnerFactory(slug="bob-ai")
    result = usage_ingest(partner=bob, lines=[line(clip)])
    assert result.rejections[0].reasons == ("clip_unknown",)
    assert not UsageLine.objects.exists()


def test_replays_are_counted_once_and_reused_ids_rejected(clip, partner):
    usage_ingest(partner=partner, lines=[line(clip, "a")])
    result = usage_ingest(
        partner=partner,
        lines=[line(clip, "a"), line(clip, "a", usage_count=11), line(clip, "b"), line(clip, "b")],
    )
    assert (result.accepted, result.duplicates, result.rejected) == (1, 2, 1)
    assert result.rejections[0].reasons == ("line_id_reused",)
    assert UsageLine.objects.count() == 2


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=8), st.decimals(min_value=0, max_value=10**6, places=2)),
        min_size=1,
        max_size=15,
    )
)
def test_property_replaying_usage_changes_nothing(clip, partner, raw):
    run = next(_runs)  # examples share the database: fresh line ids per example
    lines = [line(clip, f"h{run}-{i}-{n}", net_revenue=revenue) for n, (i, revenue) in enumerate(raw)]
    usage_ingest(partner=partner, lines=lines)
    before = sorted(UsageLine.objects.values_list("partner_line_id", "net_revenue"))
    again = usage_ingest(partner=partner, lines=lines)
    assert again.accepted == 0 and again.duplicates == len(lines)
    assert sorted(UsageLine.objects.values_list("partner_line_id", "net_revenue")) == before
