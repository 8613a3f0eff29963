"""CSV for people to open in spreadsheets: every cell that a spreadsheet would run as a formula is
defused, in every export (statements, settlements, payout bank files, import rejects).

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel, LibreOffice and
Google Sheets (OWASP "CSV injection"), and partner-controlled text (external ids, titles, party names)
reaches our exports. Such a cell gets a leading `'`, which spreadsheets show as text. Numbers we wrote
ourselves (`-12.50`) stay numbers. defusedcsv does the same but misses a leading tab or carriage return.
"""

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def csv_cell(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith(FORMULA_START) or PLAIN_NUMBER.match(value):
        return value
    return "'" + value


def csv_rows(rows: Iterable[Sequence[Any]], *, lineterminator: str = "\n") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def csv_dicts(rows: Iterable[Mapping[str, Any]], *, fieldnames: Sequence[str]) -> str:
    """A header line, then one line per mapping (missing keys empty, extra keys ignored)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames), extrasaction="ignore")
    writer.writeheader()
    writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()
