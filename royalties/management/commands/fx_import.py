"""python manage.py fx_import --period 2026-10 --source "ECB reference rates" rates.csv

The CSV has a header `base,quote,rate` (1 base = rate quote). All rows are imported or none.
"""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config.errors import StemmaError
from royalties.services import fx_rates_import


class Command(BaseCommand):
    help = "Import a month's FX rate table from a CSV file (base,quote,rate)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--period", required=True)
        parser.add_argument("--source", required=True)

    def handle(self, *args, file: str, period: str, source: str, **options):
        with Path(file).open(newline="") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or {"base", "quote", "rate"} - set(reader.fieldnames):
                raise CommandError("the CSV needs the columns base,quote,rate")
            rows = [(r["base"], r["quote"], r["rate"]) for r in reader]
        try:
            imported = fx_rates_import(period=period, rows=rows, source=source)
        except StemmaError as exc:
            raise CommandError(f"{exc.code}: {exc.message}")
        self.stdout.write(f"imported {len(imported)} rates for {period} from {source}")
