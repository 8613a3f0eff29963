"""python manage.py reconcile --label SLUG --period 2026-10   (exit status 1 on any difference)"""

import sys

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Label
from config.errors import StemmaError
from royalties.reconcile import period_reconcile


class Command(BaseCommand):
    help = (
        "Check a closed period: revenue x rate = party earnings + label share + undistributed, to the cent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--label", required=True)
        parser.add_argument("--period", required=True)

    def handle(self, *args, label: str, period: str, **options):
        found = Label.objects.filter(slug=label).first()
        if found is None:
            raise CommandError(f"no label {label!r}")
        try:
            report = period_reconcile(label=found, period=period)
        except StemmaError as exc:
            raise CommandError(f"{exc.code}: {exc.message}")
        header = (
            "currency  revenue_x_rate  receivable  party_earnings  label_share  undistributed  in_suspense"
        )
        self.stdout.write(header)
        for c in report.currencies:
            self.stdout.write(
                f"{c.currency:8}  {c.expected_pool:>14}  {c.receivable:>10}  {c.party_earnings:>14}  "
                f"{c.label_share:>11}  {c.undistributed:>13}  {c.suspense_balance:>11}"
            )
        for problem in report.problems:
            self.stderr.write(f"DIFFERENCE: {problem}")
        if not report.ok:
            sys.exit(1)
        self.stdout.write("OK")
