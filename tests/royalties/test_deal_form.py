"""The deal form: an admin gives a partner new terms from a date; terms are entered as percentages, old
terms are never edited (an open-ended deal ends the day before), and a closed month cannot be re-priced."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from catalog.models import AuditEvent, Role
from royalties.models import Deal
from royalties.services import period_close
from tests.factories import LabelFactory, PartnerFactory, member
from tests.royalties.factories import deal

pytestmark = pytest.mark.django_db

FORM = {"name": "2027 terms", "currency": "EUR", "royalty_rate": "45.5", "label_share": "10",
        "attributed_fraction": "80", "publishing_fraction": "30", "pro_rata_rule": "equal_per_recording"}  # fmt: skip


def test_admin_starts_new_terms_and_the_old_deal_ends_the_day_before(client):
    label, partner = LabelFactory(), PartnerFactory(name="Melodia")
    old = deal(label, partner, start=date(2024, 1, 1))
    client.force_login(member("ada", label, Role.ADMIN))
    response = client.post(
        reverse("royalties:deal-new"), FORM | {"partner": partner.pk, "effective_from": "2027-01-01"}
    )
    assert response.status_code == 302
    new = Deal.objects.get(label=label, effective_from=date(2027, 1, 1))
    assert (new.royalty_rate, new.label_share, new.attributed_fraction, new.publishing_fraction) == (
        Decimal("0.455"), Decimal("0.1"), Decimal("0.8"), Decimal("0.3")
    )  # fmt: skip
    old.refresh_from_db()
    assert old.effective_to == date(2026, 12, 31) and old.royalty_rate == Decimal("0.5")  # terms unchanged
    assert AuditEvent.objects.filter(label=label, action="deal.created").exists()
    page = client.get(reverse("partners:partner-detail", args=[partner.slug])).content.decode()
    assert "45.50\u00a0%" in page and "2027-01-01" in page


def test_a_closed_month_is_not_re_priced(client):
    label, partner = LabelFactory(), PartnerFactory()
    deal(label, partner, start=date(2024, 1, 1))
    period_close(label=label, period="2026-09")
    client.force_login(member("ada", label, Role.ADMIN))
    response = client.post(
        reverse("royalties:deal-new"), FORM | {"partner": partner.pk, "effective_from": "2026-09-15"}
    )
    assert "already closed" in response.content.decode()
    assert Deal.objects.filter(label=label).count() == 1


def test_bad_terms_are_a_400_and_only_admins_may(client):
    label, partner = LabelFactory(), PartnerFactory()
    client.force_login(member("ada", label, Role.ADMIN))
    response = client.post(
        reverse("royalties:deal-new"),
        FORM | {"partner": partner.pk, "effective_from": "x", "royalty_rate": "150"},
    )
    assert response.status_code == 400 and not Deal.objects.exists()
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    assert client.get(reverse("royalties:deal-new")).status_code == 403
