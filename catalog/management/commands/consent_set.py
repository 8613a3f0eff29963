from datetime import date

from django.core.management.base import BaseCommand, CommandError

from catalog.consent import consent_set
from catalog.models import ConsentState, ConsentUse, Label, Party, Recording, Work
from config.errors import StemmaError


class Command(BaseCommand):
    help = (
        "Record a consent version for a recording, party or work (or, with none, the label's default) "
        "for one AI use, from a date on. Versions are never edited: this adds one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--label", required=True, help="slug of the label")
        subject = parser.add_mutually_exclusive_group()
        subject.add_argument("--isrc", help="the recording's ISRC")
        subject.add_argument("--party", type=int, help="the party's id")
        subject.add_argument("--iswc", help="the work's ISWC (composition rights)")
        parser.add_argument("--use", required=True, choices=ConsentUse.values)
        parser.add_argument("--state", required=True, choices=ConsentState.values)
        parser.add_argument("--from", dest="effective_from", required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--reason", default="", help="why (kept in the audit log)")

    def handle(self, *args, label, isrc, party, iswc, use, state, effective_from, reason, **options):
        try:
            target = Label.objects.get(slug=label)
        except Label.DoesNotExist:
            raise CommandError(f"no label with slug {label!r}")
        try:
            starts = date.fromisoformat(effective_from)
        except ValueError:
            raise CommandError(f"--from {effective_from!r} is not a date like 2026-11-01")
        subject = {}
        if isrc:
            compact = isrc.replace("-", "").upper()
            subject["recording"] = _one(
                Recording.objects.filter(label=target, isrc=compact), f"ISRC {isrc}", target
            )
        elif party is not None:
            subject["party"] = _one(Party.objects.filter(label=target, pk=party), f"party id {party}", target)
        elif iswc:
            compact = iswc.replace("-", "").replace(".", "").upper()
            subject["work"] = _one(Work.objects.filter(label=target, iswc=compact), f"ISWC {iswc}", target)
        try:
            consent = consent_set(
                label=target, use=use, state=state, effective_from=starts, reason=reason, **subject
            )
        except StemmaError as exc:
            raise CommandError(f"{exc.code}: {exc.message}")
        self.stdout.write(self.style.SUCCESS(f"{target.slug}: {consent}"))


def _one(queryset, what: str, label: Label):
    found = queryset.first()
    if found is None:
        raise CommandError(f"{label.slug} has no {what}")
    return found
