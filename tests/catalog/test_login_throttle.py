"""Sign-in throttling on every login door (ours and /admin/login/), by django-axes: failures count per
(username, client), a lockout lifts after the cool-off, never locks the user out from another client,
and the client is read correctly behind the trusted proxy (config/client_ip.py)."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from config.client_ip import trusted_proxy_networks
from tests.factories import LabelFactory, member

pytestmark = pytest.mark.django_db

LIMIT = 3
ATTACKER, OWNER, PROXY = "203.0.113.5", "198.51.100.7", "10.0.0.2"


@pytest.fixture(autouse=True)
def fast(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # sign-ins in ms


@pytest.fixture
def alice():
    user = member("alice", LabelFactory(name="Label A"))
    user.is_staff = user.is_superuser = True  # so that /admin/ lets her in too
    user.save()
    return user


def sign_in(client: Client, url: str, password: str, **meta):
    return client.post(url, {"username": "alice", "password": password}, **meta)


def fail_until_locked(url: str, **meta) -> None:
    client = Client()
    for _ in range(LIMIT - 1):
        assert sign_in(client, url, "wrong", **meta).status_code == 200
    assert sign_in(client, url, "wrong", **meta).status_code == 429


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_repeated_failures_lock_that_client_out_even_with_the_right_password(alice, url):
    fail_until_locked(url, REMOTE_ADDR=ATTACKER)
    locked = sign_in(Client(), url, "secret-pass-123", REMOTE_ADDR=ATTACKER)
    assert locked.status_code == 429 and "Sign-in paused" in locked.content.decode()


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_a_lockout_never_stops_the_real_user_on_another_client(alice, url):
    fail_until_locked(url, REMOTE_ADDR=ATTACKER)
    owner = Client()
    assert sign_in(owner, url, "secret-pass-123", REMOTE_ADDR=OWNER).status_code == 302
    assert owner.session["_auth_user_id"] == str(alice.pk)


def test_the_lock_lifts_after_the_cool_off(alice, settings):
    fail_until_locked("/accounts/login/", REMOTE_ADDR=ATTACKER)
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert sign_in(Client(), "/accounts/login/", "secret-pass-123", REMOTE_ADDR=ATTACKER).status_code == 302


def test_behind_the_trusted_proxy_each_client_is_its_own(alice, settings):
    """Every request reaches Django from the proxy's address; the client is the address the proxy
    appended. One attacker behind the proxy must not lock everyone out."""
    settings.TRUSTED_PROXY_NETWORKS = trusted_proxy_networks(["10.0.0.0/8"], setting="TRUSTED_PROXIES")
    fail_until_locked("/accounts/login/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER)
    assert AccessAttempt.objects.get().ip_address == ATTACKER
    owner = sign_in(
        Client(), "/accounts/login/", "secret-pass-123", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=OWNER
    )
    assert owner.status_code == 302
    # A client cannot pick its address by sending the header itself through the proxy...
    spoof = sign_in(
        Client(), "/accounts/login/", "secret-pass-123",
        REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"{OWNER}, {ATTACKER}",
    )  # fmt: skip
    assert spoof.status_code == 429
    # ...nor by reaching the app directly with it.
    direct = sign_in(
        Client(), "/accounts/login/", "wrong", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=OWNER
    )
    assert direct.status_code == 200
    assert AccessAttempt.objects.filter(ip_address="192.0.2.1").exists()


def test_a_success_resets_the_count(alice):
    client = Client()
    for _ in range(LIMIT - 1):
        sign_in(client, "/accounts/login/", "wrong", REMOTE_ADDR=OWNER)
    assert sign_in(client, "/accounts/login/", "secret-pass-123", REMOTE_ADDR=OWNER).status_code == 302
    assert not AccessAttempt.objects.filter(ip_address=OWNER).exists()
