import pytest
from django.core.exceptions import ValidationError

from catalog.identifiers import (
    format_iswc,
    ipi_name_check_digits,
    iswc_check_digit,
    normalize_ipi,
    normalize_isni,
    normalize_isrc,
    normalize_iswc,
)


@pytest.mark.parametrize(
    "raw, compact",
    [
        ("US-RC1-76-07839", "USRC17607839"),
        ("usrc17607839", "USRC17607839"),
        ("GB-AYE-69-00003", "GBAYE6900003"),
    ],
)
def test_valid_isrc(raw, compact):
    assert normalize_isrc(raw) == compact


@pytest.mark.parametrize("raw", ["", "US-RC1-76-0783", "1SRC17607839", "USRC1760783X", "US RC1 76 078390"])
def test_invalid_isrc(raw):
    with pytest.raises(ValidationError):
        normalize_isrc(raw)


@pytest.mark.parametrize("raw", ["0000 0001 2281 955X", "0000000121032683"])
def test_valid_isni(raw):
    assert len(normalize_isni(raw)) == 16


@pytest.mark.parametrize("raw", ["0000 0001 2281 9551", "0000000121032684", "1234"])
def test_invalid_isni(raw):
    with pytest.raises(ValidationError):
        normalize_isni(raw)


def test_iswc_published_example():
    # The example in the ISWC handbook and on Wikipedia: T-034.524.680-1.
    assert iswc_check_digit("034524680") == 1
    assert normalize_iswc("T-034.524.680-1") == "T0345246801"
    assert normalize_iswc("t0345246801") == "T0345246801"
    assert format_iswc("T0345246801") == "T-034.524.680-1"


@pytest.mark.parametrize(
    "raw", ["T-034.524.680-2", "T-034.524.680", "034.524.680-1", "X-034.524.680-1", "T-034.524.68A-1", ""]
)
def test_invalid_iswc(raw):
    with pytest.raises(ValidationError):
        normalize_iswc(raw)


def test_ipi_published_example():
    # 00014107338 is the IPI name number example in the CISAC CWR documentation.
    assert ipi_name_check_digits("000141073") == 38
    assert normalize_ipi("00014107338") == "00014107338"


@pytest.mark.parametrize("raw", ["00014107339", "00014107383", "0001410733", "abc", "123", "000141073388"])
def test_invalid_ipi(raw):
    with pytest.raises(ValidationError):
        normalize_ipi(raw)
