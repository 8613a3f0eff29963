"""Royalties pages: Alice sees her label's periods and statements; Bob (another label) gets 404s."""

from datetime import date

import pytest
from django.urls import reverse

from royalties.models import PartnerSettlement, Period, Statement
from royalties.services import period_close
from tests.factories import LabelFactory, PartyFactory, RecordingFactory, member, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(label, partner):
    party = PartyFactory(label=label, name="Ada")
    recording = RecordingFactory(label=label, title="Engine")
    split_for(recording, {party: "1"})
    deal(label, partner, rate="0.5")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {recording: "1"})
    usage(clip, "100.00", day=date(2026, 9, 3))
    period_close(label=label, period="2026-09")
    return {
        "alice": member("alice", label),
        "bob": member("bob", LabelFactory(slug="south")),
        "period": Period.objects.get(label=label),
        "statement": Statement.objects.get(),
        "settlement": PartnerSettlement.objects.get(),
        "recording": recording,
    }


def test_alice_sees_the_period_with_its_reconciliation(client, world):
    client.force_login(world["alice"])
    page = client.get(reverse("royalties:period-detail", args=[world["period"].pk]))
    assert page.status_code == 200
    assert b"balanced" in page.content and b"Ada" in page.content
    assert client.get(reverse("royalties:period-list")).status_code == 200
    pdf = client.get(reverse("royalties:statement-pdf", args=[world["statement"].pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert b"50.00" in client.get(reverse("royalties:statement-csv", args=[world["statement"].pk])).content
    assert client.get(reverse("royalties:settlement-csv", args=[world["settlement"].pk])).status_code == 200


def test_bob_cannot_see_alices_period_or_statements(client, world):
    client.force_login(world["bob"])
    assert client.get(reverse("royalties:period-detail", args=[world["period"].pk])).status_code == 404
    assert client.get(reverse("royalties:statement-pdf", args=[world["statement"].pk])).status_code == 404
    assert client.get(reverse("royalties:settlement-csv", args=[world["settlement"].pk])).status_code == 404
    assert b"2026-09" not in client.get(reverse("royalties:period-list")).content


def test_recording_page_shows_earnings(client, world):
    client.force_login(world["alice"])
    page = client.get(reverse("catalog:recording-detail", args=[world["recording"].pk]))
    assert page.status_code == 200
    assert b"Earnings" in page.content and b"2026-09" in page.content and b"50.00" in page.content
