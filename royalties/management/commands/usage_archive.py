"""python manage.py usage_archive 2024-01 [--no-export] [--drop]

Archive one month of usage lines on PostgreSQL (royalties.partitions.usage_month_archive): refuses unless
every label's period of that month is closed; exports the month as gzipped CSV through the storage
(archives/usage/2024-01.csv.gz), detaches its partition, and with --drop drops the detached table. The
ledger is never touched: balances, postings and statements are the same before and after.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.errors import StemmaError
from royalties.partitions import ArchiveRefused, usage_month_archive
from royalties.periods import parse_period


class Command(BaseCommand):
    help = "Export, detach (and optionally drop) a closed month's usage-line partition; the ledger stays."

    def add_arguments(self, parser):
        parser.add_argument("month", help="YYYY-MM")
        parser.add_argument("--no-export", action="store_true", help="detach without writing the CSV")
        parser.add_argument("--drop", action="store_true", help="drop the detached table (needs the export)")

    def handle(self, *args, month: str, no_export: bool, drop: bool, **options):
        if drop and no_export:
            raise CommandError("--drop needs the export: a dropped month must exist somewhere")
        try:
            with transaction.atomic():
                result = usage_month_archive(month=parse_period(month), export=not no_export, drop=drop)
        except (ArchiveRefused, StemmaError) as exc:
            raise CommandError(str(exc))
        self.stdout.write(
            f"{result['month']}: {result['lines']} lines; exported to {result['export'] or '-'}; "
            f"partition {result['table']} {'dropped' if result['dropped'] else 'detached'}"
        )
