from django.core.management.base import BaseCommand, CommandError

from partner_api.models import ApiKey
from partner_api.services import apikey_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its visible prefix (stm_xxxxxxxx); it stops working at once."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, prefix: str, **options):
        api_key = ApiKey.objects.filter(prefix=prefix).first()
        if api_key is None:
            raise CommandError(f"no API key with prefix {prefix!r}")
        api_key = apikey_revoke(api_key=api_key)
        self.stdout.write(f"Revoked {api_key.prefix} at {api_key.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
