"""The UI's one number and date format (`{% load formats %}`), used by every app's templates.

- `{{ fraction|percent }}`: a share or rate in [0, 1] as a percentage with PERCENT_PLACES decimals
  ("50.75 %"); shares are stored with six places, so two places of percent show every stored digit.
- `{{ value|day }}` / `{{ value|moment }}`: one date style (ISO 8601, "2026-09-30", "2026-09-30 14:05"),
  unambiguous across locales and sortable in exports.
Money has its own filter (`royalties` `money`): thousands separators and the currency's minor unit.
"""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone

register = template.Library()

PERCENT_PLACES = (
    2  # six-place fractions (shares, rates) x 100 = at most four places; two are read, the rest is noise
)
NBSP = "\u00a0"  # between a number and its unit, so "50.00 %" never wraps


@register.filter
def percent(value, places: int = PERCENT_PLACES) -> str:
    if value is None or value == "":
        return ""
    try:
        fraction = Decimal(str(value))
    except InvalidOperation:
        return ""
    return f"{fraction * 100:,.{int(places)}f}{NBSP}%"


@register.filter
def day(value) -> str:
    if not value:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, date) else str(value)


@register.filter
def moment(value) -> str:
    if not value:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.strftime("%Y-%m-%d %H:%M")
    return day(value)
