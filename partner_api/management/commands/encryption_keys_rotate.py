"""Re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEYS key (step 2 of a key rotation)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from config.encryption import secret_reencrypt
from partner_api.models import WebhookEndpoint


class Command(BaseCommand):
    help = (
        "Re-encrypt stored secrets (webhook signing secrets) with the newest FIELD_ENCRYPTION_KEYS key. "
        "Run after putting a new key first; the old key can be dropped afterwards."
    )

    def handle(self, *args, **options):
        count = 0
        with transaction.atomic():
            for endpoint in WebhookEndpoint.objects.select_for_update().only("pk", "secret_encrypted"):
                endpoint.secret_encrypted = secret_reencrypt(endpoint.secret_encrypted)
                endpoint.save(update_fields=["secret_encrypted"])
                count += 1
        self.stdout.write(f"re-encrypted {count} webhook secret(s) with the newest key")
