from datetime import date

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Label, Partner, Party
from catalog.voice import voice_model_register
from config.errors import StemmaError


class Command(BaseCommand):
    help = "Register a licensed voice model of a party for a partner (the party's voice consent must be in force)."

    def add_arguments(self, parser):
        parser.add_argument("--label", required=True, help="slug of the label")
        parser.add_argument("--party", required=True, type=int, help="the party's id")
        parser.add_argument("--partner", required=True, help="slug of the partner that runs the model")
        parser.add_argument("--name", required=True)
        terms = parser.add_mutually_exclusive_group(required=True)
        terms.add_argument("--pool-share", help="licence terms as a share of each clip's pool, e.g. 0.2")
        terms.add_argument(
            "--rate-per-use", help="licence terms as a flat rate per use (play) reported, e.g. 0.002"
        )
        parser.add_argument("--currency", help="the flat rate's currency (default: the label's)")
        parser.add_argument("--from", dest="effective_from", required=True, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="effective_to", help="YYYY-MM-DD (open-ended if left out)")

    def handle(
        self, *args, label, party, partner, name, pool_share, rate_per_use, currency, effective_from, effective_to,
        **options,
    ):  # fmt: skip
        target = Label.objects.filter(slug=label).first()
        if target is None:
            raise CommandError(f"no label with slug {label!r}")
        singer = Party.objects.filter(label=target, pk=party).first()
        if singer is None:
            raise CommandError(f"{label} has no party id {party}")
        runner = Partner.objects.filter(slug=partner).first()
        if runner is None:
            raise CommandError(f"no partner with slug {partner!r}")
        try:
            starts = date.fromisoformat(effective_from)
            ends = date.fromisoformat(effective_to) if effective_to else None
        except ValueError:
            raise CommandError("--from and --to are dates like 2026-11-01")
        try:
            model = voice_model_register(
                label=target, party=singer, partner=runner, name=name, pool_share=pool_share,
                rate_per_use=rate_per_use, rate_currency=currency, effective_from=starts, effective_to=ends,
            )  # fmt: skip
        except StemmaError as exc:
            raise CommandError(f"{exc.code}: {exc.message}")
        self.stdout.write(self.style.SUCCESS(f"voice model {model.pk}: {model}"))
