"""DDEX DSR flat files (Digital Sales Report, "dsrf") streamed into usage lines through the COPY path.

A DSR is a UTF-8 text file of tab-separated records (DSR Part 1, Architecture, clause 6; record layouts in
Part 8, Record Type Definitions): exactly one HEAD, summary records (SYxx) that give each sales context
its territory, currency and totals, blocks of records about what was used (RE release, AS resource,
MW work records) each followed by its sales/usage records (SUxx), and exactly one FOOT with the counts.
Lines starting with `#` are comments (6.6.9), empty lines are empty records (6.6.7).

What becomes a usage line (docs/ddex.md has the full mapping and what is ignored):
- SU03 (UGC Profile): one line per record: DspResourceId, Usages, NetRevenue, ValidityPeriodStart.
- SU01 (downloads) and SU02 (streams) of the Basic Audio Profile: they carry no revenue of their own, so
  the summary record's NetRevenue is allocated over them pro rata to their units (Usages - Returns, or
  NumberOfStreams) against the summary's Usages, at six places, half-even (what licensors do with a
  Basic Audio report).
- The resource is the block's AS record the usage record points at (TransactedResource, or the block's
  only resource); the clip is the partner's clip whose external_id is the DspResourceId, else the one the
  partner gave that ISRC (`Clip.extra["isrc"]`).
- The line id is `<MessageId>:<SalesTransactionId>` (unique by the standard), so a replayed message adds
  nothing even without the DsrMessage record that answers a replay without reading it again.

A record that cannot become a usage line is rejected with its record number (its line in the file) and a
stable reason; the rest are ingested. A file whose HEAD or FOOT is wrong writes nothing.
"""

import codecs
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import BinaryIO

from django.db import IntegrityError, transaction

from catalog.models import Label, Partner
from royalties.errors import DsrConflict, DsrInvalid
from royalties.ingest import (
    R_CLIP,
    R_COUNT,
    R_DATE,
    R_REVENUE,
    STAGE_COLUMNS,
    LineOutcome,
    usage_ingest_staged,
)
from royalties.models import REVENUE_PLACES, DsrMessage, UsageLineType

SUPPORTED_PROFILES = ("BasicAudioProfile", "UgcProfile")
MAX_RECORD_CHARS = 1 << 20  # a record longer than 1 MiB is not a DSR record; reading stops there
MAX_LISTED_REJECTIONS = 10_000  # rejections listed per file (the count is always exact)
SNIFF_BYTES = 64  # enough of a file's start to tell a DSR from our CSV
_QUANTUM = Decimal(1).scaleb(-REVENUE_PLACES)
# Distinct dates, counts and amounts parsed once per file (usage records repeat a handful of each); the
# bound keeps a file of all-distinct values from growing the caches.
_PARSED_CACHE = 10_000
_USAGE, _ADJUSTMENT = UsageLineType.USAGE.value, UsageLineType.ADJUSTMENT.value
_ZERO = Decimal(0)  # compared with a Decimal, twice as fast as with the int 0

# Stable reason codes of records rejected here (the SQL pass adds those of royalties.ingest).
R_RECORD = "dsr_record_invalid"
R_SUMMARY = "dsr_summary_unknown"
R_RESOURCE = "dsr_resource_unknown"
R_UNSUPPORTED = "dsr_record_unsupported"

DSR_REASONS = {
    R_RECORD: "The record does not have the cells its record type defines.",
    R_SUMMARY: "The record's SummaryRecordId names no supported summary record (SY01/SY02) of the file.",
    R_RESOURCE: "The record names no resource record (AS01/AS02) of its block.",
    R_UNSUPPORTED: "This sales/usage record type is not read by Stemma (see docs/ddex.md).",
    R_CLIP: "No clip of this partner has the resource's DspResourceId as external_id or its ISRC.",
    R_COUNT: "The usage count is not a whole number >= 0.",
    R_REVENUE: "The revenue is not a number, or the summary record gives none to allocate.",
    R_DATE: "The usage date is outside the report's period, before 2000 or in the future.",
    "revenue_precision": "The revenue has more than 6 decimal places.",
    "currency_unknown": "The summary record's CurrencyOfReporting is not a known ISO 4217 currency.",
    "negative_revenue_not_adjustment": "The revenue is negative.",
    "territory_invalid": "The summary record's Territory is not an ISO 3166-1 alpha-2 code.",
    "period_closed": "The royalty period of this usage date is closed; report an adjustment instead.",
    "partner_line_id_invalid": "The SalesTransactionId is missing.",
    "line_type_unknown": "The line type is unknown.",
}

_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")
_TERRITORY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class DsrHeader:
    """The HEAD record (Part 8, 5.1.1)."""

    message_version: str
    profile: str
    profile_version: str
    message_id: str
    created: datetime
    file_number: int
    number_of_files: int
    usage_start: date
    usage_end: date
    sender_party_id: str
    sender_name: str

    @property
    def report_ref(self) -> str:
        """The message's id, naming the file within a multi-file message (which may arrive file by file)."""
        if self.number_of_files == 1:
            return self.message_id
        return f"{self.message_id}#{self.file_number}of{self.number_of_files}"


@dataclass(frozen=True)
class _Summary:
    territory: str
    currency: str
    usages: int | None
    net_revenue: Decimal | None


@dataclass
class DsrIngestResult:
    header: DsrHeader
    message: DsrMessage
    replayed: bool = False
    records: int = 0
    usage_records: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[dict] = field(default_factory=list)  # [{"record", "line_id", "code", "reason"}]


def looks_like_dsr(head: bytes) -> bool:
    """True for content that starts with a DSR HEAD record (tab-separated), whatever the file is called."""
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    return head.startswith(b"HEAD\t")


def _iso_date(value: str, *, end: bool = False) -> date:
    """A ddex_IsoDate: YYYY-MM-DD (or YYYYMMDD), or YYYY-MM / YYYY for a whole month or year."""
    value = value.strip()
    if len(value) == 7 and value[4] == "-":
        start = date(int(value[:4]), int(value[5:]), 1)
        if not end:
            return start
        following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        return date.fromordinal(following.toordinal() - 1)
    if len(value) == 4 and value.isdigit():
        return date(int(value), 12, 31) if end else date(int(value), 1, 1)
    return date.fromisoformat(value)


def dsr_parse_header(line: str) -> DsrHeader:
    """The HEAD record's cells, checked; DsrInvalid (the whole file) otherwise."""
    cells = line.rstrip("\r\n").split("\t")
    if cells[0] != "HEAD":
        raise DsrInvalid("The first record of a DSR must be HEAD.", fields={"record": [1]})
    if len(cells) < 12:
        raise DsrInvalid(
            f"The HEAD record has {len(cells)} cells; it needs at least 12 (RecordType to SenderName).",
            fields={"record": [1]},
        )
    version, profile, profile_version, message_id, created = cells[1:6]
    problems = []
    if not version.startswith("dsrf/"):
        problems.append(f"MessageVersion {version!r} is not dsrf/...")
    if profile not in SUPPORTED_PROFILES:
        problems.append(f"Profile {profile!r} is not one of {', '.join(SUPPORTED_PROFILES)}")
    message_id = message_id.strip()
    if not message_id or len(message_id) > 80 or not message_id.isprintable():
        problems.append("MessageId must be 1 to 80 printable characters")
    try:
        created_at = datetime.fromisoformat(created.strip().replace("Z", "+00:00"))
    except ValueError:
        problems.append(f"MessageCreatedDateTime {created!r} is not an RFC 3339 date-time")
        created_at = None
    try:
        file_number, number_of_files = int(cells[6]), int(cells[7])
        if not 1 <= file_number <= number_of_files:
            raise ValueError
    except ValueError:
        problems.append(f"FileNumber {cells[6]!r} / NumberOfFiles {cells[7]!r} are not 1 <= n <= N")
        file_number = number_of_files = 0
    try:
        usage_start, usage_end = _iso_date(cells[8]), _iso_date(cells[9], end=True)
        if usage_end < usage_start:
            raise ValueError
    except ValueError:
        problems.append(f"UsageStartDate {cells[8]!r} / UsageEndDate {cells[9]!r} are not a period")
        usage_start = usage_end = None
    if not cells[10].strip() or not cells[11].strip():
        problems.append("SenderPartyId and SenderName are required")
    if problems:
        raise DsrInvalid("The HEAD record is invalid: " + "; ".join(problems) + ".", fields={"record": [1]})
    return DsrHeader(
        message_version=version,
        profile=profile,
        profile_version=profile_version,
        message_id=message_id,
        created=created_at,
        file_number=file_number,
        number_of_files=number_of_files,
        usage_start=usage_start,
        usage_end=usage_end,
        sender_party_id=cells[10].strip(),
        sender_name=cells[11].strip(),
    )


# No count or amount a DSR carries reaches 10^30 (usage counts are bigint, ~9.2 x 10^18); a larger exponent
# (`1E+5000`) is not a number of this domain, and turning it into an int would take seconds or fail.
MAX_DECIMAL_EXPONENT = 30


def _decimal(value: str) -> Decimal | None:
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or (number and number.adjusted() > MAX_DECIMAL_EXPONENT):
        return None
    return number


def _whole(count: Decimal | None) -> int | Decimal | None:
    """A count as an int when it is whole; a fraction stays Decimal and is rejected by the shared check."""
    if count is not None and count == count.to_integral_value():
        return int(count)
    return count


def _line_id(message_id: str, transaction_id: str) -> str:
    line_id = f"{message_id}:{transaction_id}"
    if len(line_id) <= 100:
        return line_id
    # Both ids are the sender's; a pair too long for a line id is named by its digest (still unique).
    return "dsr:" + hashlib.sha256(line_id.encode()).hexdigest()


class DsrReader:
    """Reads a DSR's records after HEAD, yielding staged usage rows (royalties.ingest.STAGE_COLUMNS).

    Records that cannot become usage lines are collected in `rejections` (the first
    MAX_LISTED_REJECTIONS; `rejected` counts all). When the records end, FOOT is checked: a missing or
    wrong FOOT raises DsrInvalid, which aborts the COPY the rows are streamed into.

    A report has millions of usage records and a few thousand of everything else, so the usage records'
    path is kept to a few calls and dictionary look-ups: the values usage records repeat (dates, counts,
    amounts) are parsed once per distinct text.
    """

    def __init__(self, lines: Iterator[str], header: DsrHeader, clips: "ClipIndex | None" = None):
        self.lines = lines
        self.header = header
        self.clips = clips  # resources resolved to clip ids before streaming; else the SQL pass resolves them
        # What every usage record reads, held here rather than looked up through the header per record.
        self._message_id, self._start, self._end = header.message_id, header.usage_start, header.usage_end
        self._by_external = clips.by_external if clips is not None else None
        self._by_isrc = clips.by_isrc if clips is not None else {}
        self.summaries: dict[str, _Summary] = {}
        self.summary_records = 0
        self.blocks = 0
        self.records = 1  # HEAD
        self.usage_records = 0
        self.rejected = 0
        self.rejections: list[LineOutcome] = []
        self._foot: tuple[int, list[str]] | None = None
        self._resources: dict[
            str, tuple[str, str]
        ] = {}  # the block's ResourceReference -> (DspResourceId, ISRC)
        self._by_dsp_id: dict[str, str] = {}  # the block's DspResourceId -> ISRC, for SU03
        self._dates: dict[str, date | None] = {}
        self._counts: dict[str, int | Decimal | None] = {}
        self._amounts: dict[str, Decimal | None] = {}

    def _reject(self, record: int, line_id: str, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_LISTED_REJECTIONS:
            self.rejections.append(LineOutcome(record, line_id, "rejected", (reason,)))

    def _date(self, value: str) -> date | None:
        try:
            return self._dates[value]
        except KeyError:
            try:
                parsed = _iso_date(value)
            except ValueError:
                parsed = None
            if len(self._dates) < _PARSED_CACHE:
                self._dates[value] = parsed
            return parsed

    def _count(self, value: str) -> int | Decimal | None:
        """A usage count: an int when whole, a Decimal fraction (the shared check rejects it), None if no number."""
        try:
            return self._counts[value]
        except KeyError:
            parsed = _whole(_decimal(value))
            if len(self._counts) < _PARSED_CACHE:
                self._counts[value] = parsed
            return parsed

    def _amount(self, value: str) -> Decimal | None:
        try:
            return self._amounts[value]
        except KeyError:
            parsed = _decimal(value)
            if len(self._amounts) < _PARSED_CACHE:
                self._amounts[value] = parsed
            return parsed

    def _summary(self, cells: list[str], record: int) -> None:
        self.summary_records += 1
        kind = cells[0][:4]
        if kind not in ("SY01", "SY02") or len(cells) < 12:
            return  # other summary types carry no context a supported usage record can use
        territory = cells[6].strip().upper()
        usages = cells[8].strip()
        self.summaries[cells[1]] = _Summary(
            territory=territory if _TERRITORY.match(territory) else "",
            currency=cells[10].strip().upper(),
            usages=int(usages) if usages.isdigit() else None,
            net_revenue=_decimal(cells[11].strip()),
        )

    def _resource(self, cells: list[str]) -> None:
        if len(cells) >= 5:
            isrc = cells[4].split("|", 1)[0].strip().replace("-", "").upper()
            isrc = isrc if _ISRC.match(isrc) else ""
            self._resources[cells[2]] = (cells[3].strip(), isrc)
            self._by_dsp_id[cells[3].strip()] = isrc

    def _lines(self) -> Iterator[tuple[int, str]]:
        """(record number, text) of each record between HEAD and FOOT but comments and empty records; the
        whole-file checks (record length, NUL, a second HEAD, what follows FOOT) raise DsrInvalid."""
        readline = self.lines.readline
        record = 1
        while raw := readline(MAX_RECORD_CHARS):
            record += 1
            if len(raw) >= MAX_RECORD_CHARS and not raw.endswith("\n"):
                raise DsrInvalid(
                    f"Record {record} is longer than {MAX_RECORD_CHARS} characters; this is not a DSR.",
                    fields={"record": [record]},
                )
            line = raw.rstrip("\r\n")
            if self._foot is not None:
                if line.strip():
                    raise DsrInvalid(f"Record {record} follows the FOOT record.", fields={"record": [record]})
                continue
            if not line or line[0] == "#":
                continue
            if "\x00" in line:
                raise DsrInvalid(f"Record {record} contains a NUL character.", fields={"record": [record]})
            # line[:4] is the first cell's first four characters whenever it can equal a record type.
            if line[:4] == "FOOT":
                self._foot = (record, line.split("\t"))
            elif line[:4] == "HEAD":
                raise DsrInvalid(f"Record {record} is a second HEAD record.", fields={"record": [record]})
            else:
                yield record, line
        self.records = record

    def __iter__(self) -> Iterator[tuple]:
        block_id = None
        for record, line in self._lines():
            cells = line.split("\t")
            kind = line[:4]
            if kind[:2] == "SY":
                self._summary(cells, record)
                continue
            if len(cells) < 2:
                self._reject(record, "", R_RECORD)
                continue
            if cells[1] != block_id:
                block_id = cells[1]
                self.blocks += 1
                self._resources, self._by_dsp_id = {}, {}
            if kind == "SU03":  # the bulk of a UGC report: tested first
                row = self._ugc_usage(cells, record)
            elif kind[:2] in ("SU", "SR"):
                row = self._basic_usage(kind, cells, record)
            else:
                if kind in ("AS01", "AS02"):
                    self._resource(cells)
                continue  # release, work, licensor and other records say nothing about usage
            if row is not None:
                yield row
        self._check_foot(self._foot)

    def _ugc_usage(self, cells: list[str], record: int) -> tuple | None:
        """An SU03 record's row: its own usages, revenue and date."""
        self.usage_records += 1
        if len(cells) < 7:
            self._reject(record, "", R_RECORD)
            return None
        line_id = _line_id(self._message_id, cells[2].strip())
        summary = self.summaries.get(cells[3]) if cells[3] else None
        if cells[3] and summary is None:
            self._reject(record, line_id, R_SUMMARY)
            return None
        dsp_id = cells[4].strip()
        has_date = len(cells) > 7 and cells[7].strip()
        usage_date = self._date(cells[7]) if has_date else self._start
        return self._row(
            record, line_id, summary, dsp_id, self._by_dsp_id.get(dsp_id, ""),
            self._count(cells[5]), self._amount(cells[6]), usage_date,
        )  # fmt: skip

    def _basic_usage(self, kind: str, cells: list[str], record: int) -> tuple | None:
        """An SU01/SU02 record's row: the summary's NetRevenue allocated pro rata to its units."""
        self.usage_records += 1
        if kind not in ("SU01", "SU02"):
            self._reject(record, "", R_UNSUPPORTED)
            return None
        if len(cells) < (11 if kind == "SU01" else 8):
            self._reject(record, "", R_RECORD)
            return None
        line_id = _line_id(self._message_id, cells[3].strip())
        summary = self.summaries.get(cells[2])
        if summary is None:
            self._reject(record, line_id, R_SUMMARY)
            return None
        resource = self._block_resource(cells[5].strip())
        if resource is None:
            self._reject(record, line_id, R_RESOURCE)
            return None
        if kind == "SU01":
            sold, returned = _decimal(cells[8]), _decimal(cells[9])
            count = sold
            units = sold - returned if sold is not None and returned is not None else None
        else:
            count = units = _decimal(cells[7])
        if units is None or not summary.usages or summary.net_revenue is None:
            revenue = None
        else:
            revenue = (summary.net_revenue * units / summary.usages).quantize(
                _QUANTUM, rounding=ROUND_HALF_EVEN
            )
        dsp_id, isrc = resource
        return self._row(
            record, line_id, summary, dsp_id, isrc, _whole(count), revenue, self.header.usage_start
        )

    def _block_resource(self, reference: str) -> tuple[str, str] | None:
        if reference:
            return self._resources.get(reference)
        if len(self._resources) == 1:  # a block about one resource need not name it (Part 3, 5.3)
            return next(iter(self._resources.values()))
        return None

    def _row(
        self,
        record: int,
        line_id: str,
        summary: _Summary | None,
        dsp_id: str,
        isrc: str,
        count: int | Decimal | None,
        revenue: Decimal | None,
        usage_date: date | None,
    ) -> tuple | None:
        """The staged row of a usage record, or None when the record is rejected (and listed)."""
        if line_id[-1] == ":":
            self._reject(record, line_id, "partner_line_id_invalid")  # no SalesTransactionId
        elif count is None:
            self._reject(record, line_id, R_COUNT)
        elif revenue is None:
            self._reject(record, line_id, R_REVENUE)
        elif usage_date is None or not self._start <= usage_date <= self._end:
            self._reject(record, line_id, R_DATE)
        elif not dsp_id and not isrc:
            self._reject(record, line_id, R_RESOURCE)
        else:
            clip_id = None
            if self._by_external is not None:
                clip_id, dsp_id, isrc = self._by_external.get(dsp_id) or self._by_isrc.get(isrc), "", ""
            if summary is None:
                return (record, line_id, clip_id, usage_date, "", count, revenue, "",
                        _ADJUSTMENT if revenue < _ZERO else _USAGE, dsp_id or None, isrc or None)  # fmt: skip
            return (record, line_id, clip_id, usage_date, summary.territory, count, revenue, summary.currency,
                    _ADJUSTMENT if revenue < _ZERO else _USAGE, dsp_id or None, isrc or None)  # fmt: skip
        return None

    def _check_foot(self, foot: tuple[int, list[str]] | None) -> None:
        if foot is None:
            raise DsrInvalid("The file ends without a FOOT record (it may be truncated).")
        record, cells = foot
        try:
            lines, summaries, blocks = int(cells[1]), int(cells[3]), int(cells[4])
        except (IndexError, ValueError):
            raise DsrInvalid(
                "The FOOT record must give NumberOfLinesInFile, NumberOfSummaryRecords and NumberOfBlocksInFile.",
                fields={"record": [record]},
            )
        found = (self.records, self.summary_records, self.blocks)
        if (lines, summaries, blocks) != found:
            raise DsrInvalid(
                f"The FOOT record counts {lines} lines, {summaries} summary records and {blocks} blocks; "
                f"the file has {found[0]}, {found[1]} and {found[2]} (it may be truncated or spliced).",
                fields={"record": [record]},
            )


_COPY_BLOCK_ROWS = 2000  # rows per block handed to COPY (~150 KB: few writes, little memory)


def _copy_text(rows: Iterable[tuple]) -> Iterator[bytes]:
    """A DsrReader's rows as COPY text lines, in blocks: about half the CPU of psycopg's per-value adapters
    (1M rows), because the reader's value types are known. Cells cannot hold a tab, CR or LF (they
    separate cells and records), so a backslash is the only character COPY needs escaped."""
    lines: list[str] = []
    days: dict[date, str] = {}
    for idx, line_id, clip_id, day, territory, count, revenue, currency, line_type, dsp_id, isrc in rows:
        iso_day = days.get(day) or days.setdefault(day, day.isoformat())
        if "\\" in line_id or "\\" in currency:  # the territory is two letters or empty
            line_id, currency = _copy_escape(line_id), _copy_escape(currency)
        lines.append(
            f"{idx}\t{line_id}\t{_COPY_NULL if clip_id is None else clip_id}\t{iso_day}\t{territory}\t"
            f"{count!s}\t{revenue!s}\t{currency}\t{line_type}\t"
            f"{_COPY_NULL if dsp_id is None else _copy_escape(dsp_id)}\t"
            f"{_COPY_NULL if isrc is None else _copy_escape(isrc)}\n"
        )
        if len(lines) == _COPY_BLOCK_ROWS:
            yield "".join(lines).encode()
            lines.clear()
    if lines:
        yield "".join(lines).encode()


_COPY_NULL = "\\N"


def _copy_escape(value: str) -> str:
    return value.replace("\\", "\\\\")


@dataclass
class ClipIndex:
    """The partner's clips named by a file's resources: by DspResourceId (= external_id), else by ISRC.

    Built from a first, cheap pass over the file's resource records (AS01/AS02, one per resource and
    block), so the usage records stream into COPY with our clip ids, and the SQL pass is the CSV's."""

    by_external: dict[str, int]
    by_isrc: dict[str, int]

    def get(self, dsp_id: str, isrc: str) -> int | None:
        return self.by_external.get(dsp_id) or self.by_isrc.get(isrc)


# The cells the clip index needs, matched in the raw bytes of AS01/AS02 (DspResourceId, ISRC) and SU03
# (DspResourceId) records: decoding and splitting every record in Python cost ~4x more (1M records).
# Tab and newline bytes never occur inside a UTF-8 sequence, so byte matching splits cells as str does.
# Each pattern starts with the newline before its record (the regex engine then searches for that literal,
# where `^` with MULTILINE is tried at every byte), so the text scanned starts with one.
_AS_CELLS = re.compile(rb"\nAS0[12][^\t\n]*\t[^\t\n]*\t[^\t\n]*\t([^\t\n]*)\t([^\t\n]*)")
_SU03_CELLS = re.compile(rb"\nSU03[^\t\n]*\t[^\t\n]*\t[^\t\n]*\t[^\t\n]*\t([^\t\n]*)")
_READ_BYTES = 1 << 20  # the prepass reads the file in blocks of this size (memory stays bounded)


def _resource_ids(source: BinaryIO) -> tuple[set[str], set[str]]:
    """The DspResourceIds and compact ISRCs the file's resource and SU03 records name (stream rewound).

    Records end at \n, \r\n or \r, as for the reader (universal newlines). A record longer than any DSR
    record ends the scan: the reader refuses the file when it reaches it.
    """
    dsp_ids: set[bytes] = set()
    isrc_cells: set[bytes] = set()
    carry = b"\n"
    try:
        for block in iter(lambda: source.read(_READ_BYTES), b""):
            text = (carry + block).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            end = text.rfind(b"\n")
            _collect_resource_cells(text[:end], dsp_ids, isrc_cells)
            carry = text[end:]  # from the newline that starts the next record
            if len(carry) > 4 * MAX_RECORD_CHARS:  # 4: the most bytes a UTF-8 character takes
                return _decoded_ids(dsp_ids, isrc_cells)
        _collect_resource_cells(carry, dsp_ids, isrc_cells)
        return _decoded_ids(dsp_ids, isrc_cells)
    finally:
        source.seek(0)


def _collect_resource_cells(text: bytes, dsp_ids: set[bytes], isrc_cells: set[bytes]) -> None:
    for dsp_id, isrc in _AS_CELLS.findall(text):
        dsp_ids.add(dsp_id)
        isrc_cells.add(isrc)
    dsp_ids.update(_SU03_CELLS.findall(text))


def _decoded_ids(dsp_ids: set[bytes], isrc_cells: set[bytes]) -> tuple[set[str], set[str]]:
    """Distinct cells decoded and normalised as the reader does (a file of 1M records names ~10k)."""
    try:
        ids = {cell.decode().strip() for cell in dsp_ids}
        isrcs = {cell.decode().split("|", 1)[0].strip().replace("-", "").upper() for cell in isrc_cells}
    except UnicodeDecodeError as exc:
        raise DsrInvalid(f"The file is not UTF-8 text: {exc.reason} (byte {exc.start} of a cell).")
    return ids, isrcs


def _clip_index(source: BinaryIO, *, partner: Partner, label: Label | None) -> ClipIndex:
    from fingerprinting.models import Clip
    from royalties.ingest import clips_by_isrc

    dsp_ids, isrcs = _resource_ids(source)
    clips = Clip.objects.filter(partner=partner)
    if label is not None:
        clips = clips.filter(label=label)
    by_external: dict[str, int] = {}
    wanted = sorted(dsp_ids - {""})
    for start in range(0, len(wanted), 5000):
        by_external.update(
            clips.filter(external_id__in=wanted[start : start + 5000]).values_list("external_id", "id")
        )
    by_isrc = clips_by_isrc(
        partner=partner, isrcs=isrcs - {""}, label_id=label.pk if label is not None else None
    )
    return ClipIndex(by_external=by_external, by_isrc=by_isrc)


def _open_text(source: BinaryIO):
    import io

    return io.TextIOWrapper(source, encoding="utf-8-sig", errors="strict", newline="")


def _file_sha256(source: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: source.read(1 << 20), b""):
        digest.update(block)
    source.seek(0)
    return digest.hexdigest()


def dsr_read_header(source: BinaryIO) -> DsrHeader:
    """The HEAD of a DSR file (the stream is left at its start)."""
    source.seek(0)
    first = source.readline(MAX_RECORD_CHARS)
    source.seek(0)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DsrInvalid(f"The file is not UTF-8 text (byte {exc.start}).", fields={"record": [1]})
    return dsr_parse_header(text)


def dsr_summary_currency(source: BinaryIO) -> str:
    """The CurrencyOfReporting of the file's first supported summary record, "" if none (stream rewound)."""
    source.seek(0)
    try:
        for _ in range(10_000):  # summary records come right after HEAD
            raw = source.readline(MAX_RECORD_CHARS)
            if not raw:
                break
            cells = raw.decode("utf-8-sig", errors="replace").rstrip("\r\n").split("\t")
            if cells[0][:4] in ("SY01", "SY02") and len(cells) > 10:
                return cells[10].strip().upper()
            if cells[0][:2] in ("AS", "RE", "SU", "MW"):
                break
        return ""
    finally:
        source.seek(0)


def _rejection(outcome: LineOutcome) -> dict:
    code = outcome.reasons[0] if outcome.reasons else R_RECORD
    return {
        "record": outcome.index,
        "line_id": outcome.partner_line_id,
        "code": code,
        "reason": DSR_REASONS.get(code, code.replace("_", " ")),
    }


@transaction.atomic
def dsr_ingest(
    *,
    partner: Partner,
    source: BinaryIO,
    label: Label | None = None,
    max_reported: int = MAX_LISTED_REJECTIONS,
) -> DsrIngestResult:
    """Ingest one DSR file of a partner into usage lines; every record accepted, duplicate or rejected.

    `source` is the file opened in binary mode (it is read twice: once for its digest, once streamed into
    COPY). With `label`, only that label's clips are matched (an API key's scope). The same file again is
    answered from its DsrMessage without reading it (`replayed`); another file under a used MessageId is a
    DsrConflict. A file that is wrong as a whole raises DsrInvalid and writes nothing.
    """
    sha256 = _file_sha256(source)
    header = dsr_read_header(source)
    scope = {"partner": partner, "message_id": header.message_id, "file_number": header.file_number}
    existing = DsrMessage.objects.filter(**scope).first()
    if existing is None:
        try:
            with transaction.atomic():
                message = DsrMessage.objects.create(
                    **scope,
                    number_of_files=header.number_of_files,
                    file_sha256=sha256,
                    profile=header.profile,
                    usage_start=header.usage_start,
                    usage_end=header.usage_end,
                )
        except IntegrityError:  # the same message ingested concurrently: answered as a replay below
            existing = DsrMessage.objects.get(**scope)
    if existing is not None:
        if existing.file_sha256 != sha256:
            raise DsrConflict(
                f"DSR MessageId {header.message_id!r} (file {header.file_number}) was already ingested "
                "from another file; a sender never re-uses a MessageId.",
                fields={"message_id": [header.message_id]},
            )
        return DsrIngestResult(
            header=header,
            message=existing,
            replayed=True,
            records=existing.record_count,
            usage_records=existing.usage_record_count,
            duplicates=existing.accepted_count + existing.duplicate_count,
            rejected=existing.rejected_count,
            rejections=list(existing.rejected_lines),
        )

    clips = _clip_index(source, partner=partner, label=label)
    text = _open_text(source)
    try:
        text.readline(MAX_RECORD_CHARS)  # HEAD, read above
        reader = DsrReader(text, header, clips)
        # The line ids embed the MessageId, which a sender never re-uses (and which is new here).
        ingested = usage_ingest_staged(
            partner=partner,
            rows=iter(reader),
            max_reported=max_reported,
            label=label,
            new_line_ids=True,
            format_rows=_copy_text,
        )
    except UnicodeDecodeError as exc:
        raise DsrInvalid(f"The file is not UTF-8 text: {exc.reason} (byte {exc.start} of a read block).")
    finally:
        text.detach()
    outcomes = sorted([*reader.rejections, *ingested.rejections], key=lambda o: o.index)[:max_reported]
    message.record_count = reader.records
    message.usage_record_count = reader.usage_records
    message.accepted_count = ingested.accepted
    message.duplicate_count = ingested.duplicates
    message.rejected_count = ingested.rejected + reader.rejected
    message.rejected_lines = [_rejection(o) for o in outcomes]
    message.save()
    return DsrIngestResult(
        header=header,
        message=message,
        records=reader.records,
        usage_records=reader.usage_records,
        accepted=ingested.accepted,
        duplicates=ingested.duplicates,
        rejected=message.rejected_count,
        rejections=message.rejected_lines,
    )


assert STAGE_COLUMNS[0] == "idx" and len(STAGE_COLUMNS) == 11  # the rows yielded above follow this order
