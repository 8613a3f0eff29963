"""python manage.py dsr_ingest --partner SLUG [--label SLUG] [--rejects FILE] report.tsv

Streams a DDEX DSR flat file (docs/ddex.md) into usage lines through the COPY path. Every rejected record
is listed with its record number and reason; a file that is wrong as a whole writes nothing (exit 1).
The same file again adds nothing; another file under a used MessageId is refused (exit 1).
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Label, Partner
from config.csv_export import csv_dicts
from config.errors import StemmaError
from royalties.dsr import dsr_ingest

SHOWN_REJECTIONS = 20


class Command(BaseCommand):
    help = "Ingest a DDEX DSR flat file (tab-separated) of a partner into usage lines."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--partner", required=True, help="slug of the partner that sent the report")
        parser.add_argument("--label", help="only match clips of this label (slug)")
        parser.add_argument("--rejects", type=Path, help="write every listed rejection to this CSV")

    def handle(self, *args, file: Path, partner: str, label: str | None, rejects: Path | None, **options):
        try:
            sender = Partner.objects.get(slug=partner)
        except Partner.DoesNotExist:
            raise CommandError(f"no partner with slug {partner!r}")
        scope = None
        if label:
            scope = Label.objects.filter(slug=label).first()
            if scope is None:
                raise CommandError(f"no label with slug {label!r}")
        if not file.is_file():
            raise CommandError(f"{file} is not a file")
        try:
            with file.open("rb") as source:
                result = dsr_ingest(partner=sender, source=source, label=scope)
        except StemmaError as exc:
            raise CommandError(f"{file}: {exc.code}: {exc.message} Nothing was written.")
        for rejection in result.rejections[:SHOWN_REJECTIONS]:
            self.stderr.write(
                f"{file}:{rejection['record']}: {rejection['line_id'] or '-'}: "
                f"{rejection['code']}: {rejection['reason']}"
            )
        if result.rejected > SHOWN_REJECTIONS:
            self.stderr.write(f"... {result.rejected - SHOWN_REJECTIONS} more rejected record(s)")
        if rejects and result.rejections:
            # Formula-leading cells defused (config/csv_export.py): line ids are the partner's text.
            rejects.write_text(
                csv_dicts(result.rejections, fieldnames=["record", "line_id", "code", "reason"]),
                encoding="utf-8",
            )
            self.stderr.write(f"{len(result.rejections)} rejection(s) written to {rejects}")
        header = result.header
        prefix = "replay of an ingested message, nothing added; " if result.replayed else ""
        self.stdout.write(
            f"{prefix}DSR {header.report_ref} ({header.profile} from {header.sender_name}, "
            f"{header.usage_start}..{header.usage_end}): {result.usage_records} usage records, "
            f"{result.accepted} accepted, {result.duplicates} duplicates, {result.rejected} rejected"
        )
