"""Money helpers: the one place amounts are quantized, and largest-remainder allocation.

Amounts are `Decimal` everywhere. Each currency is quantized to its ISO 4217 minor unit (EUR 0.01,
JPY 1, BHD 0.001) by `money_quantize`, with ROUND_HALF_UP; nothing else in the project rounds money.
"""

from collections.abc import Hashable, Mapping
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, localcontext
from typing import TypeVar

K = TypeVar("K", bound=Hashable)  # the parts' keys: also mutually comparable (ties are broken by key)

# ISO 4217 minor units for the currencies we expect to see. A currency missing here is rejected
# (InvalidCurrency) rather than guessed: adding one is a one-line change with its ISO minor unit.
MINOR_UNITS: dict[str, int] = {
    "AED": 2, "ARS": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0,
    "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2,
    "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MAD": 2,
    "MXN": 2, "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PEN": 2, "PHP": 2, "PKR": 2,
    "PLN": 2, "QAR": 2, "RON": 2, "RSD": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3,
    "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2, "VND": 0, "ZAR": 2,
}  # fmt: skip

# Working precision for intermediate (unrounded) amounts: far beyond any share product we compute.
EXACT = Context(prec=60)


def is_known_currency(code: str) -> bool:
    return isinstance(code, str) and code in MINOR_UNITS


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        from ledger.errors import InvalidCurrency

        raise InvalidCurrency(f"unknown currency {currency!r} (ISO 4217 code expected)")


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def money_quantize(amount: Decimal, currency: str) -> Decimal:
    """The amount rounded half-up to the currency's minor unit. The only rounding of money."""
    with localcontext(EXACT):
        return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def is_quantized(amount: Decimal, currency: str) -> bool:
    return amount.is_finite() and amount == money_quantize(amount, currency)


def allocate_largest_remainder(total: Decimal, exact: Mapping[K, Decimal], currency: str) -> dict[K, Decimal]:
    """Round each exact part to the minor unit so that the parts sum to `total` exactly.

    Every part starts at its floor; the minor units still missing go one each to the parts with the
    largest remainders. Ties go to the smaller key (keys must be mutually comparable), so the result is
    deterministic. If `total` is the rounded sum of the parts, each part ends within one minor unit of
    its exact value. Parts may be negative (adjustments); `total` must be quantized.
    """
    q = quantum(currency)
    if total != money_quantize(total, currency):
        raise ValueError(f"total {total} is not quantized to {currency}")
    if not exact:
        if total:
            raise ValueError("cannot allocate a non-zero total over no parts")
        return {}
    with localcontext(EXACT):
        floors: dict[K, Decimal] = {}
        remainders: list[tuple[Decimal, K]] = []
        for key, value in exact.items():
            floor = value.quantize(q, rounding=ROUND_FLOOR)
            floors[key] = floor
            remainders.append((value - floor, key))
        units = int((total - sum(floors.values(), Decimal(0))) / q)
        if units >= 0:
            order = sorted(remainders, key=lambda item: (-item[0], item[1]))
            step = q
        else:
            # Only reachable when `total` is not the rounded sum: take back from the smallest remainders.
            order = sorted(remainders, key=lambda item: (item[0], item[1]))
            step = -q
            units = -units
        result = dict(floors)
        n = len(order)
        for i in range(units):
            key = order[i % n][1]
            result[key] += step
    return result
