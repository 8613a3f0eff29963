"""Music industry identifiers: normalise and validate once, here.

ISRC and ISNI come from python-stdnum. ISWC and IPI name numbers are not in stdnum, so their check
digits are implemented here (CISAC's published algorithms), tested against published examples.
"""

import re

from django.core.exceptions import ValidationError
from stdnum import isni, isrc
from stdnum.exceptions import ValidationError as StdnumError


def normalize_isrc(value: str) -> str:
    """'us-rc1-76-07839' -> 'USRC17607839', or ValidationError."""
    try:
        return isrc.validate(value)
    except StdnumError as exc:
        raise ValidationError(f"{value!r} is not a valid ISRC: {exc}", code="invalid_isrc") from exc


def normalize_isni(value: str) -> str:
    try:
        return isni.validate(value)
    except StdnumError as exc:
        raise ValidationError(f"{value!r} is not a valid ISNI: {exc}", code="invalid_isni") from exc


_ISWC_RE = re.compile(r"^T(\d{9})(\d)$")


def iswc_check_digit(nine_digits: str) -> int:
    """ISWC check digit: 1 + sum(i * d_i) for i = 1..9, then 10 minus that modulo 10."""
    total = 1 + sum(position * int(digit) for position, digit in enumerate(nine_digits, start=1))
    return (10 - total % 10) % 10


def normalize_iswc(value: str) -> str:
    """'T-034.524.680-1' -> 'T0345246801' (compact form, stored); ValidationError when wrong."""
    compact = re.sub(r"[\s.\-]", "", value or "").upper()
    match = _ISWC_RE.match(compact)
    if not match:
        raise ValidationError(f"{value!r} is not an ISWC (expected T-DDD.DDD.DDD-C)", code="invalid_iswc")
    digits, check = match.groups()
    if iswc_check_digit(digits) != int(check):
        raise ValidationError(f"{value!r} has a wrong ISWC check digit", code="invalid_iswc")
    return compact


def format_iswc(compact: str) -> str:
    return f"T-{compact[1:4]}.{compact[4:7]}.{compact[7:10]}-{compact[10]}"


def ipi_name_check_digits(nine_digits: str) -> int:
    """IPI name number check: weights 10..2 over the first nine digits, 101 minus the sum mod 101."""
    total = sum(weight * int(digit) for weight, digit in zip(range(10, 1, -1), nine_digits, strict=True))
    return (101 - total % 101) % 101


def normalize_ipi(value: str) -> str:
    """An IPI name number: 11 digits (shorter legacy CAE numbers are left-padded with zeros)."""
    compact = re.sub(r"[\s.\-]", "", value or "")
    if not compact.isdigit() or not 9 <= len(compact) <= 11:
        raise ValidationError(f"{value!r} is not an IPI name number (11 digits)", code="invalid_ipi")
    compact = compact.zfill(11)
    if ipi_name_check_digits(compact[:9]) != int(compact[9:]):
        raise ValidationError(f"{value!r} has wrong IPI check digits", code="invalid_ipi")
    return compact


def validate_isrc(value: str) -> None:
    normalize_isrc(value)


def validate_isni(value: str) -> None:
    normalize_isni(value)


def validate_iswc(value: str) -> None:
    normalize_iswc(value)


def validate_ipi(value: str) -> None:
    normalize_ipi(value)
