"""No N+1 queries: every page bench/pages.py measures makes the same number of queries for 3 rows as for 25
(the dashboard from cold: its window's frozen days are added up on the first view)."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Recording, Role
from fingerprinting.models import Clip
from royalties.models import Period, Statement
from royalties.services import period_close
from tests.factories import LabelFactory, PartnerFactory, PartyFactory, RecordingFactory, member, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db


def build(label, partner, n: int) -> None:
    for i in range(n):
        recording = RecordingFactory(label=label, title=f"Song {label.pk}-{i}")
        split_for(recording, {PartyFactory(label=label): "0.5", PartyFactory(label=label): "0.5"})
        clip = ClipFactory(label=label, partner=partner, title=f"Clip {i}")
        attribute(clip, {recording: "0.7"}, review_state="needs_review" if i % 2 else "auto_accepted")
        usage(clip, "10.00", day=date(2026, 9, 5))
    period_close(label=label, period="2026-09")


def count_queries(client, path: str) -> int:
    client.get(path)  # warm per-request caches that are not what we measure
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(captured)


@pytest.fixture
def two_sizes():
    partner = PartnerFactory()
    small, large = LabelFactory(), LabelFactory()
    for label, n in ((small, 3), (large, 25)):
        deal(label, partner)
        build(label, partner, n)
    return small, large


PAGES = [
    "/royalties/dashboard/",
    "/catalog/recordings/",
    "/catalog/recordings/?q=Song",
    "/catalog/recordings/{recording}/",
    "/clips/",
    "/clips/?review=yes",
    "/clips/{clip}/",
    "/clips/review/",
    "/clips/review/?sort=age",
    "/royalties/periods/",
    "/royalties/periods/{period}/",
    "/royalties/periods/{period}/?parties=all",
    "/royalties/periods/{period}/month.csv",
    "/royalties/periods/{period}/reconciliation/",
    "/royalties/statements/{statement}/",
    "/royalties/payouts/",
    "/partners/",
    "/catalog/members/",
    "/catalog/audit/",
    "/catalog/imports/",
]


# The recording page is assembled from the panels three apps register (catalog.ui): a few queries each.
MAX_QUERIES = {"/catalog/recordings/{recording}/": 30}


@pytest.mark.parametrize("path", PAGES)
def test_query_count_does_not_grow_with_rows(client, two_sizes, path):
    counts = []
    for label in two_sizes:
        client.force_login(member(f"admin-{label.pk}", label, Role.ADMIN))  # every page, members too
        period = Period.objects.get(label=label)
        statement = Statement.objects.filter(period=period).order_by("-pk").first()
        recording = Recording.objects.filter(label=label).order_by("pk").first()
        clip = Clip.objects.filter(label=label).order_by("pk").first()
        ids = {"period": period.pk, "statement": statement.pk, "recording": recording.pk, "clip": clip.pk}
        counts.append(count_queries(client, path.format(**ids)))
    small, large = counts
    assert large == small, f"{path}: {small} queries for 3 rows, {large} for 25"
    assert large <= MAX_QUERIES.get(path, 25), f"{path}: {large} queries"
