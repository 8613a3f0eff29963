"""`{{ amount|money:currency }}`: an amount shown with its currency's minor units, grouped for reading."""

from decimal import Decimal

from django import template

from ledger.money import is_known_currency, minor_units

register = template.Library()


@register.filter
def money(amount, currency: str = "") -> str:
    if amount is None or amount == "":
        return ""
    value = Decimal(str(amount))
    places = minor_units(currency) if currency and is_known_currency(currency) else 2
    # Stored amounts are already rounded to minor units; exact line amounts are shown to the same places
    # for reading only (the statement's totals are the exact, reconciled figures).
    return f"{value:,.{places}f}"
