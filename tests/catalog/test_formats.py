"""The UI's one number and date format (catalog/templatetags/formats.py)."""

from datetime import UTC, date, datetime
from decimal import Decimal

from django.template import Context, Template

from royalties.templatetags.money import money


def render(source: str, **context) -> str:
    return Template("{% load formats %}" + source).render(Context(context))


def test_shares_and_rates_are_percentages_with_two_places():
    assert render("{{ v|percent }}", v=Decimal("0.507500")) == "50.75\u00a0%"
    assert render("{{ v|percent }}", v=Decimal("0.5")) == "50.00\u00a0%"  # a 50 % rate, not 0.500000
    assert render("{{ v|percent }}", v=Decimal("1")) == "100.00\u00a0%"
    assert render("{{ v|percent }}", v=None) == ""


def test_one_date_style():
    assert render("{{ v|day }}", v=date(2026, 9, 3)) == "2026-09-03"
    assert render("{{ v|moment }}", v=datetime(2026, 9, 3, 14, 5, tzinfo=UTC)) == "2026-09-03 14:05"


def test_money_has_thousands_separators_and_the_minor_unit():
    assert money(Decimal("112339"), "EUR") == "112,339.00"
    assert money(Decimal("1.234567"), "EUR") == "1.23"
    assert money(Decimal("1500"), "JPY") == "1,500"
