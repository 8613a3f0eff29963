"""The CSV usage report layout (docs/api.md, "Usage reports"):

    HEAD,<report id>,<period start YYYY-MM-DD>,<period end YYYY-MM-DD>,<currency>
    line_id,clip_id,external_id,usage_count,net_revenue,territory[,usage_date]
    L-0001,,gen-1,1200,14.400000,DE
    ...

UTF-8 (a BOM is allowed), comma separated, RFC 4180 quoting. Each line names its clip by `clip_id`
(Stemma's) or `external_id` (yours); either column may be left empty. A bad first or second line
rejects the whole file; a bad data line is listed with its reason and nothing of it is written.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from partner_api.errors import UsageReportInvalid

HEAD_RECORD = "HEAD"
REQUIRED_COLUMNS = ("line_id", "usage_count", "net_revenue")
KNOWN_COLUMNS = ("line_id", "clip_id", "external_id", "usage_count", "net_revenue", "territory", "usage_date")


@dataclass(frozen=True)
class ParsedReport:
    report_ref: str
    header: dict[str, str]  # currency, period_start, period_end as text, checked by the serializer
    columns: tuple[str, ...]
    text: str


def usage_csv_decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageReportInvalid(f"The file is not UTF-8 text (byte {exc.start}).")
    if "\x00" in text:
        raise UsageReportInvalid("The file contains NUL characters; it is not a CSV text file.")
    return text


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise UsageReportInvalid(f"The file is not valid CSV near line {reader.line_num}: {exc}")


def usage_csv_parse_header(text: str) -> ParsedReport:
    """Check the HEAD record and the column names; UsageReportInvalid (the whole file) otherwise."""
    rows = _rows(text)
    first = next(rows, None)
    if first is None or len(first[1]) != 5 or first[1][0].strip() != HEAD_RECORD:
        raise UsageReportInvalid(
            "The first line must be HEAD,<report id>,<period start>,<period end>,<currency>.",
            fields={"line": [1]},
        )
    _, (_, report_ref, period_start, period_end, currency) = first
    report_ref = report_ref.strip()
    if not report_ref or len(report_ref) > 100 or not report_ref.isprintable():
        raise UsageReportInvalid("The report id must be 1 to 100 printable characters.", fields={"line": [1]})
    second = next(rows, None)
    columns = tuple(c.strip() for c in second[1]) if second else ()
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not columns or unknown or missing or len(set(columns)) != len(columns):
        raise UsageReportInvalid(
            f"The second line must name the columns ({', '.join(KNOWN_COLUMNS)}); "
            f"missing {missing or 'none'}, unknown {unknown or 'none'}.",
            fields={"line": [2]},
        )
    if "clip_id" not in columns and "external_id" not in columns:
        raise UsageReportInvalid("A clip_id or external_id column is needed.", fields={"line": [2]})
    header = {
        "currency": currency.strip(),
        "period_start": period_start.strip(),
        "period_end": period_end.strip(),
    }
    return ParsedReport(report_ref=report_ref, header=header, columns=columns, text=text)


def usage_csv_lines(report: ParsedReport) -> Iterator[tuple[int, dict[str, str] | None]]:
    """(line number, {column: value} without empty cells) per data line; None for a wrong cell count."""
    rows = _rows(report.text)
    next(rows, None)
    next(rows, None)
    for line_no, row in rows:
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(report.columns):
            yield line_no, None
            continue
        yield line_no, {c: v.strip() for c, v in zip(report.columns, row, strict=True) if v.strip()}
