"""Server time of every web page with a big label: 10,000 recordings and 50,000 clips (plus the demo label).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stemma_bench_pages DEBUG=1 .venv/bin/python bench/pages.py

Builds the data once (bulk inserts; --rebuild to start again), then requests each page --runs times through
Django's test client in this process and prints the median and p90 server time and the query count per page.
Target (issue 6): every page under 300 ms. Issue 14 added a closed month (one usage line per clip, closed,
a payout batch) so the month page, its CSV and a statement are measured too.

"dashboard (figures not cached)" clears the cache before each request: the dashboard then adds up the
frozen days of its 30-day window again (royalties.dashboard.window_figures), as on a label's first view
of the day or after a review of an older clip; "dashboard" is every other view (frozen days from the
cache, the last two days read live). Clips are attributed seconds after they arrive, as by the workers,
so the window's days hold both. Query counts do not grow with rows: tests/test_page_queries.py.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from stdnum import isrc as stdnum_isrc  # noqa: E402

from catalog.models import (
    Label,
    Membership,
    Partner,
    Party,
    Recording,
    RecordingStatus,
    Role,
    Split,
    SplitShare,
)  # noqa: E402
from fingerprinting.models import Attribution, AttributionShare, Clip, ClipStatus, Lane, ReviewState  # noqa: E402

SLUG = "bench-pages"


def build(recordings: int, clips: int) -> Label:
    rng = np.random.default_rng(1)
    label = Label.objects.create(name="Bench Pages Records", slug=SLUG)
    partner, _ = Partner.objects.get_or_create(slug="bench-partner", defaults={"name": "Bench Partner"})
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench-pages")
    user.set_password("bench-pages-pass")
    user.save()
    Membership.objects.create(user=user, label=label, role=Role.ADMIN)
    parties = Party.objects.bulk_create([Party(label=label, name=f"Party {i}") for i in range(2000)])
    recs = Recording.objects.bulk_create(
        [
            Recording(label=label, isrc=stdnum_isrc.compact(f"QZ-P4G-25-{i:05d}"), title=f"Page Song {i}",
                      display_artist=f"Artist {i % 500}", duration_seconds=60 + i % 120, status=RecordingStatus.INDEXED)
            for i in range(recordings)
        ],
        batch_size=5000,
    )  # fmt: skip
    splits = Split.objects.bulk_create(
        [Split(recording=r, right_type="master", effective_from=date(2024, 1, 1)) for r in recs],
        batch_size=5000,
    )
    SplitShare.objects.bulk_create(
        [
            SplitShare(split=s, party=parties[(i * 2 + k) % len(parties)], share=Decimal("0.5"))
            for i, s in enumerate(splits)
            for k in range(2)
        ],
        batch_size=10000,
    )
    now = timezone.now()
    clip_rows = Clip.objects.bulk_create(
        [
            Clip(label=label, partner=partner, external_id=f"bench-{i}", title=f"Bench clip {i}", audio="clips/x.wav",
                 status=ClipStatus.ATTRIBUTED)
            for i in range(clips)
        ],
        batch_size=5000,
    )  # fmt: skip
    # Spread arrival over 30 days so the dashboard has a history.
    for start in range(0, len(clip_rows), 5000):
        chunk = clip_rows[start : start + 5000]
        for c in chunk:
            c.created_at = now - timedelta(minutes=int(rng.integers(0, 30 * 24 * 60)))
        Clip.objects.bulk_update(chunk, ["created_at"], batch_size=5000)
    # Each clip attributed seconds after it arrived, as the workers do (attributions are immutable, so
    # their time is set at the insert: auto_now_add is lifted for it).
    stamp = Attribution._meta.get_field("created_at")
    stamp.auto_now_add = False  # type: ignore[attr-defined]
    try:
        attributions = Attribution.objects.bulk_create(
            [
                Attribution(clip=c, version=1, unattributed=Decimal("0.1"), engine_name="bench", engine_version="1",
                            review_state=ReviewState.NEEDS_REVIEW if i % 50 == 0 else ReviewState.AUTO_ACCEPTED,
                            created_at=c.created_at + timedelta(seconds=int(rng.integers(2, 60))))
                for i, c in enumerate(clip_rows)
            ],
            batch_size=5000,
        )  # fmt: skip
    finally:
        stamp.auto_now_add = True  # type: ignore[attr-defined]
    AttributionShare.objects.bulk_create(
        [
            AttributionShare(attribution=a, recording=recs[int(rng.integers(len(recs)))], rank=k + 1,
                             share=Decimal("0.6") if k == 0 else Decimal("0.3"), lane=Lane.STYLE)
            for a in attributions
            for k in range(2)
        ],
        batch_size=10000,
        ignore_conflicts=True,
    )  # fmt: skip
    for start in range(0, len(clip_rows), 5000):
        chunk = clip_rows[start : start + 5000]
        for c, a in zip(chunk, attributions[start : start + 5000], strict=True):
            c.current_attribution = a
        Clip.objects.bulk_update(chunk, ["current_attribution"], batch_size=5000)
    return label


def close_a_month(label: Label) -> None:
    """A closed month for the month page: a deal, one usage line per clip (bulk), the close and a payout
    batch. Its 2 % of clips waiting for review hold their money, so the page lists ~1,000 held clips."""
    from royalties.models import Deal, Period, PeriodStatus, UsageLine
    from royalties.services import deal_create, label_royalty_settings_set, payout_batch_create, period_close

    if Period.objects.filter(label=label, status=PeriodStatus.CLOSED).exists():
        return
    partner = Partner.objects.get(slug="bench-partner")
    if not Deal.objects.filter(label=label).exists():
        deal_create(label=label, partner=partner, royalty_rate=Decimal("0.5"), currency="EUR",
                    effective_from=date(2024, 1, 1), attributed_fraction=Decimal("0.8"))  # fmt: skip
    label_royalty_settings_set(label=label, payout_threshold=Decimal("5.00"))
    month = date(2026, 9, 1)
    clip_ids = list(Clip.objects.filter(label=label).values_list("pk", flat=True))
    rng = np.random.default_rng(2)
    UsageLine.objects.bulk_create(
        [
            UsageLine(label=label, partner=partner, clip_id=pk, partner_line_id=f"bench-{pk}",
                      usage_date=month.replace(day=int(rng.integers(1, 29))), usage_count=int(rng.integers(10, 900)),
                      net_revenue=Decimal(int(rng.integers(1, 5000))) / 100, currency="EUR")
            for pk in clip_ids
        ],
        batch_size=5000,
    )  # fmt: skip
    Period.objects.get_or_create(label=label, month=month)
    started = time.perf_counter()
    period_close(label=label, period=month)
    payout_batch_create(label=label, currency="EUR")
    print(f"closed {month:%Y-%m} over {len(clip_ids)} usage lines in {time.perf_counter() - started:.1f} s")


def pages(label: Label) -> list[tuple[str, str]]:
    from royalties.models import Period, Statement

    period = Period.objects.filter(label=label).order_by("-month").first()
    statement = Statement.objects.filter(period=period).order_by("pk").first()
    recording = Recording.objects.filter(label=label).order_by("pk")[500]
    clip = Clip.objects.filter(label=label).order_by("pk")[1000]
    return [
        ("dashboard", "/royalties/dashboard/"),
        ("recordings", "/catalog/recordings/"),
        ("recordings search", "/catalog/recordings/?q=Song+42"),
        ("recordings page 100", "/catalog/recordings/?page=100"),
        ("recording", f"/catalog/recordings/{recording.pk}/"),
        ("clips", "/clips/"),
        ("clips needing review", "/clips/?review=yes"),
        ("clips page 500", "/clips/?page=500"),
        ("clip", f"/clips/{clip.pk}/"),
        ("review queue", "/clips/review/"),
        ("review queue by age", "/clips/review/?sort=age"),
        ("periods", "/royalties/periods/"),
        ("month (period page)", f"/royalties/periods/{period.pk}/"),
        ("month CSV", f"/royalties/periods/{period.pk}/month.csv"),
        ("reconciliation (after the page)", f"/royalties/periods/{period.pk}/reconciliation/"),
        ("statement", f"/royalties/statements/{statement.pk}/"),
        ("members", "/catalog/members/"),
        ("payouts", "/royalties/payouts/"),
        ("partners", "/partners/"),
        ("audit log", "/catalog/audit/"),
        ("imports", "/catalog/imports/"),
    ]


def measure(client: Client, path: str, runs: int, *, cold: bool = False) -> tuple[float, float, int, int]:
    times = []
    queries = 0
    status = 0
    for _ in range(runs):
        if cold:
            cache.clear()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
        queries, status = len(captured), response.status_code
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))], queries, status


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recordings", type=int, default=10_000)
    parser.add_argument("--clips", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    label = Label.objects.filter(slug=SLUG).first()
    if label is None or args.rebuild:
        if label is not None:
            print("--rebuild: use a fresh database (rows are append-only by design)")
            return
        started = time.perf_counter()
        with transaction.atomic():
            label = build(args.recordings, args.clips)
        print(
            f"built {args.recordings} recordings and {args.clips} clips in {time.perf_counter() - started:.1f} s"
        )
    close_a_month(label)
    client = Client()
    # force_login: django-axes needs the request that Client.login() does not pass to authenticate().
    client.force_login(User.objects.get(username="bench-pages"))
    engine = connection.vendor
    print(f"database: {engine}; label with {Recording.objects.filter(label=label).count()} recordings, "
          f"{Clip.objects.filter(label=label).count()} clips; {args.runs} requests per page")  # fmt: skip
    print(f"{'page':30} {'median ms':>10} {'p90 ms':>8} {'queries':>8} {'status':>7}")
    worst = 0.0
    for name, path in [("dashboard (figures not cached)", "/royalties/dashboard/"), *pages(label)]:
        client.get(path)  # warm the caches (templates, query plans)
        median, p90, queries, status = measure(client, path, args.runs, cold=name.endswith("not cached)"))
        worst = max(worst, median)
        print(f"{name:30} {median:10.1f} {p90:8.1f} {queries:8d} {status:7d}")
    print(f"slowest median: {worst:.1f} ms (target: every page under 300 ms)")


if __name__ == "__main__":
    main()
