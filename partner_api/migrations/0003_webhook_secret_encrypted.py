"""Webhook signing secrets: encrypted at rest, in the Standard Webhooks form.

Secrets issued before were `whsec_` + URL-safe base64 (`-` and `_`) of 24 random bytes, and signed with
the whole string as the HMAC key. Standard Webhooks verifiers decode the part after `whsec_` as standard
base64 and use those bytes as the key, so each stored secret is rewritten as the standard base64 of the
same bytes (`-` -> `+`, `_` -> `/`; docs/api.md tells partners) and then encrypted. A value that is not
such a secret is kept as it is, encrypted.
"""

import base64
import binascii
import re

from django.db import migrations, models

from config.encryption import secret_decrypt, secret_encrypt

PREFIX = "whsec_"
URLSAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def _standard(secret: str) -> str:
    token = secret[len(PREFIX) :] if secret.startswith(PREFIX) else ""
    if not token or not URLSAFE.match(token):
        return secret
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return secret
    return PREFIX + base64.b64encode(raw).decode()


def _urlsafe(secret: str) -> str:
    if not secret.startswith(PREFIX):
        return secret
    try:
        raw = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return secret
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def encrypt_secrets(apps, schema_editor):
    WebhookEndpoint = apps.get_model("partner_api", "WebhookEndpoint")
    for endpoint in WebhookEndpoint.objects.only("pk", "secret").iterator():
        endpoint.secret_encrypted = secret_encrypt(_standard(endpoint.secret))
        endpoint.save(update_fields=["secret_encrypted"])


def decrypt_secrets(apps, schema_editor):
    WebhookEndpoint = apps.get_model("partner_api", "WebhookEndpoint")
    for endpoint in WebhookEndpoint.objects.only("pk", "secret_encrypted").iterator():
        endpoint.secret = _urlsafe(secret_decrypt(endpoint.secret_encrypted))
        endpoint.save(update_fields=["secret"])


class Migration(migrations.Migration):
    dependencies = [("partner_api", "0002_usage_report_ref_unique")]

    operations = [
        migrations.AddField(
            model_name="webhookendpoint",
            name="secret_encrypted",
            field=models.TextField(default=""),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret",
            field=models.CharField(max_length=100, blank=True, default=""),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
        migrations.RemoveField(model_name="webhookendpoint", name="secret"),
    ]
