"""Partners pages: keys shown once and revocable by admins only; a label sees only its own partners' data."""

from datetime import date

import pytest
from django.urls import reverse

from catalog.models import Role
from partner_api.models import ApiKey, api_key_hash
from royalties.services import deal_create
from tests.factories import LabelFactory, PartnerFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    from decimal import Decimal

    label, other = LabelFactory(name="Northgate"), LabelFactory(name="Elsewhere")
    partner = PartnerFactory(name="Melodia AI", slug="melodia")
    deal_create(
        label=label,
        partner=partner,
        royalty_rate=Decimal("0.5"),
        currency="EUR",
        effective_from=date(2026, 1, 1),
    )
    return label, other, partner


def test_admin_creates_a_key_seen_once_then_revokes_it(client, setup):
    label, _, partner = setup
    client.force_login(member("ada", label, Role.ADMIN))
    response = client.post(reverse("partners:apikey-new"), {"partner": "melodia", "name": "production"})
    assert response["Location"] == reverse("partners:partner-detail", args=["melodia"])
    first = client.get(response["Location"]).content.decode()
    api_key = ApiKey.objects.get()
    raw = first.split('<pre class="secret">')[1].split("</pre>")[0]
    assert api_key_hash(raw) == api_key.key_hash and raw.startswith(api_key.prefix)
    second = client.get(response["Location"]).content.decode()
    assert raw not in second and api_key.prefix in second
    client.post(reverse("partners:apikey-revoke", args=["melodia", api_key.prefix]))
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_rights_manager_cannot_create_or_revoke_keys(client, setup):
    label, _, partner = setup
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    assert client.post(reverse("partners:apikey-new"), {"partner": "melodia"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_other_label_does_not_see_the_partner(client, setup):
    _, other, _ = setup
    client.force_login(member("otto", other, Role.ADMIN))
    assert "Melodia AI" not in client.get(reverse("partners:partner-list")).content.decode().split("<h2>")[0]
    assert client.get(reverse("partners:partner-detail", args=["melodia"])).status_code == 404


def test_partner_page_lists_deals(client, setup):
    label, _, _ = setup
    client.force_login(member("vic", label, Role.VIEWER))
    page = client.get(reverse("partners:partner-detail", args=["melodia"])).content.decode()
    assert "50.00\u00a0%" in page and "EUR" in page
