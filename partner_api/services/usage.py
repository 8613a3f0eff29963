"""Usage from partners: JSON batches and uploaded report files, turned into royalties usage lines."""

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Label, Partner
from config.celery import enqueue_on_commit
from fingerprinting.models import Clip
from partner_api import usage_dsr
from partner_api.errors import PayloadTooLarge, UsageReportConflict, UsageReportInvalid
from partner_api.models import UsageReport, UsageReportStatus, WebhookEvent
from partner_api.serializers import UsageHeaderSerializer, UsageLineInputSerializer, UsageReportSerializer
from partner_api.services.webhooks import webhook_event_emit
from partner_api.tasks import usage_report_process_task
from partner_api.usage_csv import usage_csv_decode, usage_csv_lines, usage_csv_parse_header
from royalties.services import UsageLineInput, usage_ingest

MAX_LISTED_REJECTIONS = 10_000  # a report lists at most this many rejected lines (the count is exact)
MAX_USAGE_BATCH_LINES = 10_000
USAGE_REASONS = {
    "clip_unknown": "No clip with this clip_id or external_id for this key.",
    "date_out_of_range": "usage_date is outside the period, before 2000 or in the future.",
    "line_id_reused": "This line_id was already reported with different content.",
    "period_closed": "The royalty period of this usage_date is closed; report an adjustment instead.",
    "partner_line_id_invalid": "line_id must be 1 to 100 characters.",
    "revenue_invalid": "net_revenue must be a finite number.",
    "revenue_precision": "net_revenue has more than 6 decimal places.",
    "currency_unknown": "Unknown currency.",
    "usage_count_invalid": "usage_count must be a whole number >= 0.",
    "negative_revenue_not_adjustment": "net_revenue must not be negative.",
    "territory_invalid": "territory must be an ISO 3166-1 alpha-2 code.",
    "line_invalid": "The line does not have the right fields.",
}


@dataclass(frozen=True)
class UsageHeader:
    currency: str
    period_start: date
    period_end: date


@dataclass(frozen=True)
class UsageLineIn:
    line_no: int  # 1-based: position in the batch, or line number in the report file
    line_id: str
    usage_count: int
    net_revenue: Decimal
    usage_date: date | None = None
    territory: str = ""
    clip_id: int | None = None
    external_id: str | None = None


@dataclass
class UsageOutcome:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def usage_rejection(*, line_no: int, line_id: str, code: str, detail: str = "") -> dict[str, Any]:
    return {
        "line": line_no,
        "line_id": line_id,
        "code": code,
        "reason": detail or USAGE_REASONS.get(code, code),
    }


def _clips_in_scope(
    *, partner: Partner, label: Label, lines: Sequence[UsageLineIn]
) -> dict[tuple[str, int | str], int]:
    """{("id", n) or ("ext", s): clip id} for the lines' clips that belong to this (partner, label)."""
    clips = Clip.objects.filter(partner=partner, label=label)
    id_list = sorted({line.clip_id for line in lines if line.clip_id is not None})
    ext_list = sorted({line.external_id for line in lines if line.clip_id is None and line.external_id})
    found: dict[tuple[str, int | str], int] = {}
    for start in range(0, len(id_list), 5000):
        for pk in clips.filter(pk__in=id_list[start : start + 5000]).values_list("pk", flat=True):
            found["id", pk] = pk
    for start in range(0, len(ext_list), 5000):
        rows = clips.filter(external_id__in=ext_list[start : start + 5000]).values_list("pk", "external_id")
        for pk, external_id in rows:
            found["ext", external_id] = pk
    return found


@transaction.atomic
def usage_lines_ingest(
    *, partner: Partner, label: Label, header: UsageHeader, lines: Sequence[UsageLineIn]
) -> UsageOutcome:
    """Usage lines of one (partner, label) for the ledger; each line accepted, duplicate or rejected.

    Clips are resolved here, once, within the key's label (a key never reports usage on another label's
    clip), and handed to the royalties service resolved. Rejected lines write nothing; a line id already
    reported with the same content is a duplicate, counted once, even after its month is closed.
    """
    outcome = UsageOutcome()
    clips = _clips_in_scope(partner=partner, label=label, lines=lines)
    inputs: list[UsageLineInput] = []
    sources: list[UsageLineIn] = []
    for line in lines:
        key: tuple[str, int | str] = (
            ("id", line.clip_id) if line.clip_id is not None else ("ext", line.external_id or "")
        )
        usage_date = line.usage_date or header.period_start
        if key not in clips:
            outcome.rejected.append(
                usage_rejection(line_no=line.line_no, line_id=line.line_id, code="clip_unknown")
            )
        elif not header.period_start <= usage_date <= header.period_end:
            outcome.rejected.append(
                usage_rejection(line_no=line.line_no, line_id=line.line_id, code="date_out_of_range")
            )
        else:
            sources.append(line)
            inputs.append(
                UsageLineInput(
                    partner_line_id=line.line_id,
                    usage_date=usage_date,
                    usage_count=line.usage_count,
                    net_revenue=line.net_revenue,
                    currency=header.currency,
                    clip_id=clips[key],
                    territory=line.territory,
                )
            )
    if inputs:
        clip_labels = {line.clip_id: label.pk for line in inputs if line.clip_id is not None}
        result = usage_ingest(partner=partner, lines=inputs, clip_labels=clip_labels)
        outcome.accepted += result.accepted
        outcome.duplicates += result.duplicates
        for line_outcome in result.rejections:
            source = sources[line_outcome.index]
            code = line_outcome.reasons[0] if line_outcome.reasons else "line_invalid"
            outcome.rejected.append(
                usage_rejection(line_no=source.line_no, line_id=source.line_id, code=code)
            )
    outcome.rejected.sort(key=lambda r: r["line"])
    return outcome


# ---------------------------------------------------------------------------------------- report files

Row = tuple[int, dict[str, str] | None]  # (line number, {column: value}), or None for a malformed line


@dataclass(frozen=True)
class UsageReportContent:
    format: str  # "csv" (our layout) or "dsr" (a DDEX DSR flat file, docs/ddex.md)
    report_ref: str  # the report id the partner gave the file: the idempotency key of the upload
    header: dict[str, str]  # currency, period_start, period_end as text (UsageHeaderSerializer checks)
    # The data lines of a CSV, readable again (UsageReportInvalid if unreadable); None for a DSR, which
    # royalties.dsr streams into usage lines itself (partner_api.usage_dsr).
    rows: Callable[[], Iterator[Row]] | None


def usage_report_read(data: bytes) -> UsageReportContent:
    """Parse a usage report file: the one place a report format is recognised and read.

    A DDEX DSR flat file is told from our CSV layout (docs/api.md) by its content; both give the report
    id, the period and the currency, so upload, replay and conflicts work alike. UsageReportInvalid if
    the file as a whole cannot be taken.
    """
    if usage_dsr.is_dsr(data):
        dsr = usage_dsr.dsr_report_header(data)
        return UsageReportContent(format="dsr", report_ref=dsr.report_ref, header=dsr.header, rows=None)
    parsed = usage_csv_parse_header(usage_csv_decode(data))
    return UsageReportContent(
        format="csv", report_ref=parsed.report_ref, header=parsed.header, rows=lambda: usage_csv_lines(parsed)
    )


@dataclass(frozen=True)
class UsageReportUpload:
    report: UsageReport
    replayed: bool  # the same file was uploaded before under this report id


@transaction.atomic
def usage_report_create(*, partner: Partner, label: Label, upload: File) -> UsageReportUpload:
    """Store a usage report whose header is valid and queue its lines; a bad file writes nothing.

    The header's report id is the idempotency key: the same file again is answered with the report
    already stored (processed once); another file under a used report id is a conflict."""
    if upload.size is not None and upload.size > settings.MAX_CSV_UPLOAD_BYTES:
        raise PayloadTooLarge(f"The file is larger than {settings.MAX_CSV_UPLOAD_BYTES} bytes.")
    upload.seek(0)
    data = upload.read()
    content = usage_report_read(data)
    if content.rows is not None:
        for _ in content.rows():  # a CSV's structure (quoting, field sizes) is checked whole now
            pass
    header = UsageHeaderSerializer(data=content.header)
    if not header.is_valid():
        raise UsageReportInvalid("The HEAD line has invalid values.", fields=header.errors)
    sha256 = hashlib.sha256(data).hexdigest()
    scope = {"partner": partner, "label": label, "report_ref": content.report_ref}
    existing = UsageReport.objects.filter(**scope).first()
    if existing is None:
        report = UsageReport(**scope, file_sha256=sha256, **header.validated_data)
        report.file.save("report.csv", ContentFile(data), save=False)
        try:
            with transaction.atomic():
                report.save()
        except IntegrityError:  # the same report id uploaded concurrently: answer as a replay below
            report.file.delete(save=False)
            existing = UsageReport.objects.get(**scope)
        else:
            enqueue_on_commit(usage_report_process_task, report.pk)
            return UsageReportUpload(report, replayed=False)
    if existing.file_sha256 != sha256:
        raise UsageReportConflict(
            f"Report id {content.report_ref!r} was already used for another file (usage report {existing.pk}).",
            fields={"report_id": ["Already used for another file."]},
        )
    return UsageReportUpload(existing, replayed=True)


def _usage_line_from_row(line_no: int, row: dict[str, str] | None) -> UsageLineIn | dict[str, Any]:
    """A checked line, or its rejection."""
    line_id = (row or {}).get("line_id", "")[:100]
    if row is None:
        return usage_rejection(
            line_no=line_no, line_id="", code="line_invalid", detail="The line has the wrong number of cells."
        )
    serializer = UsageLineInputSerializer(data=row)
    if not serializer.is_valid():
        detail = "; ".join(
            f"{name}: {' '.join(map(str, errors))}" for name, errors in serializer.errors.items()
        )
        return usage_rejection(line_no=line_no, line_id=line_id, code="line_invalid", detail=detail[:500])
    return UsageLineIn(line_no=line_no, **serializer.validated_data)


def _usage_report_lines_ingest(
    *, report: UsageReport, content: UsageReportContent, header: UsageHeader
) -> tuple[UsageOutcome, int]:
    outcome = UsageOutcome()
    batch: list[UsageLineIn] = []
    line_count = 0
    assert content.rows is not None  # a CSV; a DSR is ingested by royalties.dsr

    def flush() -> None:
        if batch:
            part = usage_lines_ingest(partner=report.partner, label=report.label, header=header, lines=batch)
            outcome.accepted += part.accepted
            outcome.duplicates += part.duplicates
            outcome.rejected.extend(part.rejected)
            batch.clear()

    for line_no, row in content.rows():
        line_count += 1
        line = _usage_line_from_row(line_no, row)
        if isinstance(line, UsageLineIn):
            batch.append(line)
            if len(batch) >= MAX_USAGE_BATCH_LINES:
                flush()
        else:
            outcome.rejected.append(line)
    flush()
    outcome.rejected.sort(key=lambda r: r["line"])
    return outcome, line_count


@transaction.atomic
def usage_report_process(*, report: UsageReport) -> UsageReport:
    """Check and ingest a queued report's lines, record the outcome and tell the partner's webhooks.

    Claimed with an UPDATE on its status, so a task run twice processes it once; one transaction, so
    a crash leaves it queued with nothing written.
    """
    claimed = UsageReport.objects.filter(pk=report.pk, status=UsageReportStatus.QUEUED).update(
        status=UsageReportStatus.PROCESSING
    )
    if not claimed:
        return report
    report.refresh_from_db()
    with report.file.open("rb") as handle:
        content = usage_report_read(handle.read())
    if content.format == "dsr":  # streamed into usage lines by royalties.dsr
        return _usage_report_processed(usage_dsr.dsr_report_process(report))
    header = UsageHeader(
        currency=report.currency, period_start=report.period_start, period_end=report.period_end
    )
    try:
        with transaction.atomic():  # a file that turns out unreadable half-way writes none of its lines
            outcome, line_count = _usage_report_lines_ingest(report=report, content=content, header=header)
    except UsageReportInvalid as exc:
        report.status = UsageReportStatus.FAILED
        report.error_code, report.error_message = exc.code, exc.message[:500]
    else:
        report.line_count = line_count
        report.accepted_count = outcome.accepted
        report.duplicate_count = outcome.duplicates
        report.rejected_count = len(outcome.rejected)
        report.rejected_lines = outcome.rejected[:MAX_LISTED_REJECTIONS]
        report.status = UsageReportStatus.PROCESSED
    return _usage_report_processed(report)


def _usage_report_processed(report: UsageReport) -> UsageReport:
    """Record the outcome and tell the partner's webhooks (CSV and DSR alike)."""
    report.processed_at = timezone.now()
    report.save()
    webhook_event_emit(
        partner=report.partner,
        label=report.label,
        event_type=WebhookEvent.USAGE_REPORT_PROCESSED,
        data={"usage_report": UsageReportSerializer(report).data},
    )
    return report
