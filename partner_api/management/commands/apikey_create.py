from django.core.management.base import BaseCommand, CommandError

from catalog.models import Label, Partner
from partner_api.services import apikey_create


class Command(BaseCommand):
    help = "Create an API key for a partner within a label; the key is printed once and never again."

    def add_arguments(self, parser):
        parser.add_argument("--label", required=True, help="slug of the label that licenses the partner")
        parser.add_argument("--partner", required=True, help="slug of the partner")
        parser.add_argument("--name", default="", help="a name to tell keys apart")

    def handle(self, *args, label: str, partner: str, name: str, **options):
        label_obj = Label.objects.filter(slug=label).first()
        if label_obj is None:
            raise CommandError(f"no label with slug {label!r}")
        partner_obj = Partner.objects.filter(slug=partner).first()
        if partner_obj is None:
            raise CommandError(f"no partner with slug {partner!r}")
        created = apikey_create(label=label_obj, partner=partner_obj, name=name)
        self.stderr.write(
            f"Created key {created.api_key.prefix} for {partner_obj.slug} in {label_obj.slug}. "
            "Store it now: it is not shown again."
        )
        self.stdout.write(created.raw_key)
