"""The review queue explains itself: why each clip waits, the money held on it, how long it has waited;
sorted by money or age; bulk confirm of a selection; roles and tenancy."""

from datetime import date, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Role
from fingerprinting.models import Attribution, ReviewState
from royalties.services import period_close
from tests.factories import LabelFactory, PartnerFactory, PartyFactory, RecordingFactory, member, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db

WEAK = [
    {
        "code": "weak_evidence",
        "isrc": "X",
        "message": "QZ1 (60.0%): its strongest run has a false-alarm chance",
    }
]
UNSUPPORTED = [
    {"code": "unsupported_reference", "isrc": "QZ9", "message": "declared reference QZ9 is not supported"}
]


@pytest.fixture
def queue():
    """Three clips waiting (two with money held at September's close, one disputed) and one settled; the
    small one has waited nine days."""
    label, partner = LabelFactory(), PartnerFactory()
    song = RecordingFactory(label=label, title="Glass Tide", display_artist="Ines Okafor")
    twin = RecordingFactory(label=label, title="Glass Tide (remaster)")
    split_for(song, {PartyFactory(label=label): "1"})
    deal(label, partner)
    small = ClipFactory(label=label, partner=partner, title="Small stake")
    big = ClipFactory(label=label, partner=partner, title="Big stake")
    disputed = ClipFactory(label=label, partner=partner, title="Disputed one")
    settled = ClipFactory(label=label, partner=partner, title="Settled one")
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - timedelta(days=9)):
        attribute(small, {song: "0.6"}, review_state=ReviewState.NEEDS_REVIEW, review_reasons=WEAK)
    near = {song: {"verbatim": {"seconds": 4}, "near_duplicates": [twin.isrc]}}
    attribute(
        big,
        {song: "0.5"},
        review_state=ReviewState.NEEDS_REVIEW,
        share_evidence=near,
        review_reasons=UNSUPPORTED,
    )
    attribute(disputed, {song: "1"}, review_state=ReviewState.DISPUTED)
    attribute(settled, {song: "1"})
    usage(small, "10.00", day=date(2026, 9, 5))
    usage(big, "900.00", day=date(2026, 9, 5))
    period_close(label=label, period="2026-09")
    return label, {"small": small, "big": big, "disputed": disputed, "settled": settled}


def rows(page: str) -> list[str]:
    return [title for title in ("Small stake", "Big stake", "Disputed one", "Settled one") if title in page]


def order(page: str, titles: list[str]) -> list[str]:
    return sorted(titles, key=page.index)


def test_queue_says_why_how_much_and_since_when(client, queue):
    label, clips = queue
    client.force_login(member("rita", label))
    page = client.get(reverse("fingerprinting:review-queue")).content.decode()
    assert "Settled one" not in page
    assert "declared reference QZ9 is not supported" in page and "false-alarm chance" in page
    assert "disputed" in page and "same audio as" in page
    # Money held: 900 x 0.5 rate = 450 pool, all attributed, held whole; 10 -> 5.00.
    assert "450.00 EUR" in page and "5.00 EUR" in page
    assert "9 days" in page
    assert "Glass Tide" in page and "Ines Okafor" in page and "60.00\u00a0%" in page


def test_queue_sorts_by_money_at_stake_and_by_age(client, queue):
    label, _ = queue
    client.force_login(member("rita", label))
    by_money = client.get(reverse("fingerprinting:review-queue")).content.decode()
    assert order(by_money, rows(by_money)) == ["Big stake", "Small stake", "Disputed one"]
    by_age = client.get(reverse("fingerprinting:review-queue"), {"sort": "age"}).content.decode()
    assert order(by_age, rows(by_age))[0] == "Small stake"


def test_bulk_confirm_confirms_the_selection_only(client, queue):
    label, clips = queue
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    other = ClipFactory(label=LabelFactory(), partner=PartnerFactory())
    attribute(other, {RecordingFactory(label=other.label): "1"}, review_state=ReviewState.NEEDS_REVIEW)
    ids = [clips["big"].pk, clips["disputed"].pk, other.pk]
    response = client.post(reverse("fingerprinting:review-bulk-confirm"), {"clip": ids, "sort": "age"})
    assert response.status_code == 302 and response["Location"].endswith("?sort=age")
    for clip in (clips["big"], clips["disputed"], clips["small"], other):
        clip.refresh_from_db()
    assert clips["big"].current_attribution.review_state == ReviewState.CONFIRMED
    assert clips["big"].current_attribution.created_by.username == "rita"
    assert clips["disputed"].current_attribution.review_state == ReviewState.DISPUTED  # its own decision
    assert clips["small"].current_attribution.review_state == ReviewState.NEEDS_REVIEW  # not selected
    assert other.current_attribution.review_state == ReviewState.NEEDS_REVIEW  # another label's: untouched


def test_bulk_confirm_needs_a_rights_manager_and_a_selection(client, queue):
    label, clips = queue
    client.force_login(member("vic", label, Role.VIEWER))
    assert (
        client.post(reverse("fingerprinting:review-bulk-confirm"), {"clip": [clips["big"].pk]}).status_code
        == 403
    )
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    for bad in ({}, {"clip": ["nope"]}):
        response = client.post(reverse("fingerprinting:review-bulk-confirm"), bad, follow=True)
        assert "Select between 1 and" in response.content.decode()
    assert Attribution.objects.filter(review_state=ReviewState.CONFIRMED).count() == 0


def test_queue_query_count_is_flat(client, queue):
    label, clips = queue
    client.force_login(member("rita", label))
    url = reverse("fingerprinting:review-queue")
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    song = clips["big"].current_attribution.shares.first().recording
    for n in range(10):
        clip = ClipFactory(label=label, partner=clips["big"].partner, title=f"More {n}")
        attribute(clip, {song: "0.5"}, review_state=ReviewState.NEEDS_REVIEW)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()
    assert "More 9" in page and len(many) == len(few), [q["sql"] for q in many]
