"""python manage.py close_period --label SLUG --period 2026-10  (cron; idempotent, safe to re-run)"""

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Label
from config.errors import StemmaError
from royalties.services import period_close


class Command(BaseCommand):
    help = "Close a label's royalty period: post the ledger, issue settlements and statements."

    def add_arguments(self, parser):
        parser.add_argument("--label", required=True, help="label slug")
        parser.add_argument("--period", required=True, help="month, e.g. 2026-10")

    def handle(self, *args, label: str, period: str, **options):
        found = Label.objects.filter(slug=label).first()
        if found is None:
            raise CommandError(f"no label {label!r}")
        try:
            result = period_close(label=found, period=period)
        except StemmaError as exc:
            raise CommandError(f"{exc.code}: {exc.message}")
        verb = "closed" if result.created else "was already closed"
        self.stdout.write(f"{found.slug} {result.period.code} {verb}: {result.period.summary}")
