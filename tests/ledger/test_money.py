"""ledger.money: quantizing and largest-remainder allocation."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidCurrency
from ledger.money import allocate_largest_remainder, money_quantize, quantum


def test_quantize_uses_iso_minor_units():
    assert money_quantize(Decimal("1.005"), "EUR") == Decimal("1.01")
    assert money_quantize(Decimal("1.5"), "JPY") == Decimal("2")
    assert money_quantize(Decimal("1.0005"), "BHD") == Decimal("1.001")
    with pytest.raises(InvalidCurrency):
        quantum("XXX")


def test_thirds_tie_break_goes_to_the_smaller_key():
    """100.00 over three equal parts: 33.33 each is 99.99; the missing cent goes to key 'a'."""
    third = Decimal(100) / 3
    parts = allocate_largest_remainder(Decimal("100.00"), {"c": third, "a": third, "b": third}, "EUR")
    assert parts == {"a": Decimal("33.34"), "b": Decimal("33.33"), "c": Decimal("33.33")}


exact_amounts = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=8, allow_nan=False
)


@given(
    st.dictionaries(st.integers(min_value=0, max_value=50), exact_amounts, min_size=1, max_size=30),
    st.sampled_from(["EUR", "JPY", "BHD"]),
)
def test_allocation_sums_exactly_and_each_part_is_within_one_minor_unit(exact, currency):
    total = money_quantize(sum(exact.values(), Decimal(0)), currency)
    parts = allocate_largest_remainder(total, exact, currency)
    assert sum(parts.values(), Decimal(0)) == total
    for key, value in exact.items():
        assert abs(parts[key] - value) < quantum(currency)
        assert parts[key] == money_quantize(parts[key], currency)


@given(st.lists(st.decimals(min_value=0, max_value=1000, places=2), min_size=1, max_size=10))
def test_allocation_is_deterministic(values):
    exact = {i: v / 7 for i, v in enumerate(values)}
    total = money_quantize(sum(exact.values(), Decimal(0)), "EUR")
    assert allocate_largest_remainder(total, exact, "EUR") == allocate_largest_remainder(
        total, dict(reversed(list(exact.items()))), "EUR"
    )
