"""DDEX DSR flat files on the usage-report endpoint (docs/ddex.md): told from our CSV by their content at
the point a report file is read, and handed to royalties.dsr, which streams them into usage lines."""

import io

from partner_api.errors import UsageReportInvalid
from partner_api.models import UsageReport, UsageReportStatus
from partner_api.usage_csv import ParsedReport
from royalties.dsr import SNIFF_BYTES, dsr_ingest, dsr_read_header, dsr_summary_currency, looks_like_dsr
from royalties.errors import DsrConflict, DsrInvalid

MAX_LISTED_REJECTIONS = 10_000  # as for CSV reports: the count is exact, the list is capped


def is_dsr(data: bytes) -> bool:
    return looks_like_dsr(data[:SNIFF_BYTES])


def dsr_report_header(data: bytes) -> ParsedReport:
    """The report id (MessageId), period (UsageStartDate..UsageEndDate) and currency (of the first summary
    record) of a DSR, checked as a CSV's HEAD line is; UsageReportInvalid otherwise."""
    source = io.BytesIO(data)
    try:
        header = dsr_read_header(source)
    except DsrInvalid as exc:
        raise UsageReportInvalid(exc.message, fields=exc.fields)
    currency = dsr_summary_currency(source)
    if not currency:
        raise UsageReportInvalid(
            "A DSR needs a summary record (SY01/SY02) with its CurrencyOfReporting before its blocks.",
            fields={"record": [2]},
        )
    return ParsedReport(
        report_ref=header.report_ref,
        header={
            "currency": currency,
            "period_start": str(header.usage_start),
            "period_end": str(header.usage_end),
        },
        columns=(),
        text="",
    )


def dsr_report_process(report: UsageReport) -> UsageReport:
    """Ingest a stored DSR report through royalties.dsr; sets its counts, or its failure (the caller saves)."""
    try:
        with report.file.open("rb") as handle:
            result = dsr_ingest(
                partner=report.partner, source=handle, label=report.label, max_reported=MAX_LISTED_REJECTIONS
            )
    except (DsrInvalid, DsrConflict) as exc:
        report.status = UsageReportStatus.FAILED
        report.error_code, report.error_message = exc.code, exc.message[:500]
        return report
    report.line_count = result.usage_records
    report.accepted_count = result.accepted
    report.duplicate_count = result.duplicates
    report.rejected_count = result.rejected
    report.rejected_lines = [
        {"line": r["record"], "line_id": r["line_id"], "code": r["code"], "reason": r["reason"]}
        for r in result.rejections
    ]
    report.status = UsageReportStatus.PROCESSED
    return report
