"""Bearer keys: hashed, revocable, last-used, throttled per key; request ids on every answer."""

import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from partner_api.models import ApiKey, api_key_hash

pytestmark = pytest.mark.django_db

CLIPS = "/api/v1/clips"


def test_no_key_is_401_in_the_error_shape(world):
    response = APIClient().get(CLIPS)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer stm_00000000_nope", "Bearer", "Bearer a b", "Bearer stm_\u00e9t\u00e9", "Basic dXNlcjpwYXNz"],
)
def test_bad_keys_are_401(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(CLIPS)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"authentication_failed", "not_authenticated"}


def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_401(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.a1.api_key.prefix}_wrongsecret")
    assert client.get(CLIPS).status_code == 401


def test_only_the_hash_is_stored_and_last_used_is_recorded(world):
    key = world.a1.api_key
    assert key.key_hash == api_key_hash(world.a1.raw_key)
    assert world.a1.raw_key not in {key.prefix, key.key_hash, key.name}
    assert key.last_used_at is None
    assert world.a1.client().get(CLIPS).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_revoked_key_is_401(world):
    out = io.StringIO()
    call_command("apikey_revoke", world.a1.api_key.prefix, stdout=out)
    assert "Revoked" in out.getvalue()
    response = world.a1.client().get(CLIPS)
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_apikey_create_command_prints_the_key_once(world):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "apikey_create", "--label", "boreal", "--partner", "tunegen", "--name", "ci", stdout=out, stderr=err
    )
    raw_key = out.getvalue().strip()
    api_key = ApiKey.objects.get(key_hash=api_key_hash(raw_key))
    assert (api_key.label.slug, api_key.partner.slug, api_key.name) == ("boreal", "tunegen", "ci")
    assert raw_key.startswith(api_key.prefix + "_")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get(CLIPS).status_code == 200


def test_throttle_answers_429_with_retry_after_per_key(world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"partner": "1000/min", "partner_burst": "3/min"},
    }
    client = world.a1.client()
    for _ in range(3):
        assert client.get(CLIPS).status_code == 200
    response = client.get(CLIPS)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert world.a2.client().get(CLIPS).status_code == 200  # another key has its own budget


def test_request_id_is_echoed_or_made(world):
    client = world.a1.client()
    made = client.get(CLIPS)
    assert len(made["X-Request-ID"]) == 32
    echoed = client.get(CLIPS, HTTP_X_REQUEST_ID="req-12345678")
    assert echoed["X-Request-ID"] == "req-12345678"
    assert APIClient().get(CLIPS)["X-Request-ID"]  # errors carry it too


def test_only_a_label_admin_creates_keys_for_it(world):
    from catalog.models import Role
    from config.errors import InvalidInput
    from partner_api.services import apikey_create
    from tests.factories import member

    admin = member("alice", world.a1.label, role=Role.ADMIN)
    manager = member("bob", world.a1.label, role=Role.RIGHTS_MANAGER)
    created = apikey_create(label=world.a1.label, partner=world.a1.partner, created_by=admin)
    assert created.api_key.created_by == admin
    with pytest.raises(InvalidInput):
        apikey_create(label=world.a1.label, partner=world.a1.partner, created_by=manager)
    with pytest.raises(InvalidInput):  # Alice administers Aurora, not Boreal
        apikey_create(label=world.b1.label, partner=world.b1.partner, created_by=admin)
