"""Webhook signing secrets: Standard Webhooks form, encrypted at rest, rotatable, migrated."""

import base64
import importlib
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from standardwebhooks.webhooks import Webhook

from config.encryption import _fernet
from partner_api.models import WebhookEndpoint
from partner_api.services import webhook_endpoint_create, webhook_secret_generate

pytestmark = pytest.mark.django_db


def test_a_new_secret_is_standard_base64_and_never_stored_in_the_clear(world):
    endpoint = webhook_endpoint_create(
        partner=world.a1.partner,
        label=world.a1.label,
        url="https://example.com/h",
        event_types=["clip.attributed"],
    )
    secret = endpoint.secret
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM partner_api_webhookendpoint")
        stored = " ".join(map(str, cursor.fetchall()))
    assert secret not in stored and secret[6:] not in stored
    assert WebhookEndpoint.objects.get().secret == secret


def test_rotating_the_key_keeps_every_secret_readable(world, settings):
    endpoint = webhook_endpoint_create(
        partner=world.a1.partner,
        label=world.a1.label,
        url="https://example.com/h",
        event_types=["clip.attributed"],
    )
    secret = endpoint.secret
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("encryption_keys_rotate", stdout=StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is dropped
    _fernet.cache_clear()
    assert WebhookEndpoint.objects.get().secret == secret


def test_the_migration_rewrites_old_url_safe_secrets_as_the_same_key_in_standard_form():
    migration = importlib.import_module("partner_api.migrations.0003_webhook_secret_encrypted")
    raw = bytes(range(250, 256)) + b"\xfb\xff" * 9  # bytes whose URL-safe base64 has - and _
    old = "whsec_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert "-" in old or "_" in old
    new = migration._standard(old)
    assert base64.b64decode(new[6:], validate=True) == raw
    # Standard Webhooks verifiers read the new string as exactly the old key's bytes.
    assert Webhook(new)._whsecret == raw
    assert migration._urlsafe(new) == old
    assert migration._standard("not-a-whsec") == "not-a-whsec"


def test_generated_secrets_differ():
    assert len({webhook_secret_generate() for _ in range(20)}) == 20


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_encrypts_the_rows_already_stored():
    from django.db.migrations.executor import MigrationExecutor

    from tests.factories import LabelFactory, PartnerFactory

    before, after = (
        ("partner_api", "0002_usage_report_ref_unique"),
        ("partner_api", "0003_webhook_secret_encrypted"),
    )
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old_apps = executor.loader.project_state([before]).apps
    raw = bytes(range(200, 224))
    old_secret = "whsec_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    old_apps.get_model("partner_api", "WebhookEndpoint").objects.create(
        label_id=LabelFactory().pk,
        partner_id=PartnerFactory().pk,
        url="https://example.com/h",
        secret=old_secret,
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([after])
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == "whsec_" + base64.b64encode(raw).decode()
    assert old_secret[6:] not in endpoint.secret_encrypted
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # the rest of the migrations, as they were
