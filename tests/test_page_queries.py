"""No N+1 queries: every list page makes the same number of queries for 3 rows as for 25."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Role
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
    "/clips/",
    "/clips/?review=yes",
    "/clips/review/",
    "/royalties/periods/",
    "/royalties/periods/{period}/",
    "/royalties/statements/{statement}/",
    "/royalties/payouts/",
    "/partners/",
    "/catalog/audit/",
]


@pytest.mark.parametrize("path", PAGES)
def test_query_count_does_not_grow_with_rows(client, two_sizes, path):
    counts = []
    for label in two_sizes:
        client.force_login(member(f"viewer-{label.pk}", label, Role.VIEWER))
        period = Period.objects.get(label=label)
        statement = Statement.objects.filter(period=period).order_by("-pk").first()
        counts.append(count_queries(client, path.format(period=period.pk, statement=statement.pk)))
    small, large = counts
    assert large == small, f"{path}: {small} queries for 3 rows, {large} for 25"
    assert large <= 25, f"{path}: {large} queries"
