"""Payout batches: create one, export its CSV for the bank, mark it paid, void a line.

python manage.py payout_batch create --label SLUG --currency EUR
python manage.py payout_batch export --batch ID [--output FILE]
python manage.py payout_batch mark-paid --batch ID [--paid-on 2026-11-05]
python manage.py payout_batch void-line --line ID --reason "bank returned it"
"""

from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Label
from config.errors import StemmaError
from royalties.exports import payout_batch_csv
from royalties.models import PayoutBatch, PayoutLine
from royalties.services import payout_batch_create, payout_batch_mark_paid, payout_line_void


class Command(BaseCommand):
    help = "Create, export, mark paid and void payout batches."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "export", "mark-paid", "void-line"])
        parser.add_argument("--label")
        parser.add_argument("--currency")
        parser.add_argument("--batch", type=int)
        parser.add_argument("--line", type=int)
        parser.add_argument("--reason", default="")
        parser.add_argument("--paid-on", type=date.fromisoformat)
        parser.add_argument("--output")

    def handle(self, *args, action: str, **o):
        try:
            if action == "create":
                label = Label.objects.filter(slug=o["label"]).first()
                if label is None or not o["currency"]:
                    raise CommandError("--label SLUG and --currency are required")
                batch = payout_batch_create(label=label, currency=o["currency"])
                self.stdout.write(
                    f"batch {batch.pk}: {batch.lines.count()} lines" if batch else "nobody is due"
                )
            elif action == "export":
                text = payout_batch_csv(self._batch(o["batch"]))
                if o["output"]:
                    Path(o["output"]).write_text(text)
                else:
                    self.stdout.write(text, ending="")
            elif action == "mark-paid":
                batch = payout_batch_mark_paid(batch=self._batch(o["batch"]), paid_on=o["paid_on"])
                self.stdout.write(f"batch {batch.pk} {batch.status}")
            else:
                line = PayoutLine.objects.filter(pk=o["line"]).first()
                if line is None:
                    raise CommandError(f"no payout line {o['line']}")
                line = payout_line_void(line=line, reason=o["reason"])
                self.stdout.write(f"line {line.pk} {line.status}")
        except StemmaError as exc:
            raise CommandError(f"{exc.code}: {exc.message}")

    def _batch(self, pk) -> PayoutBatch:
        batch = PayoutBatch.objects.filter(pk=pk).first()
        if batch is None:
            raise CommandError(f"no payout batch {pk}")
        return batch
