from django.core.management.base import BaseCommand, CommandError

from catalog.models import Label, Partner
from demo.royalties import demo_royalties_build


class Command(BaseCommand):
    help = "Demo: a deal with the demo partner, payees, last month's usage, its close and a payout batch."

    def add_arguments(self, parser):
        parser.add_argument("--label", default="demo")
        parser.add_argument("--partner", default="melodia")

    def handle(self, *args, label: str, partner: str, **options):
        target = Label.objects.filter(slug=label).first()
        licensee = Partner.objects.filter(slug=partner).first()
        if target is None or licensee is None:
            raise CommandError(
                f"no label {label!r} or partner {partner!r}: run demo_build and demo_clips first"
            )
        result = demo_royalties_build(label=target, partner=licensee)
        summary = result.period.summary
        self.stdout.write(
            f"{result.period.code} closed: {result.usage_accepted} usage lines reported, "
            f"{summary.get('statements', '?')} statements; payout batch "
            f"{result.batch.pk if result.batch else 'none (nothing due)'}"
        )
