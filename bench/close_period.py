"""Benchmark: usage ingestion through the COPY path and the monthly close, on PostgreSQL.

    .venv/bin/python bench/close_period.py                 # full size: 1,000,000 usage lines
    .venv/bin/python bench/close_period.py --scale 0.1     # a quick run
    .venv/bin/python bench/close_period.py --mixed-rights  # publishing splits and composition shares too

Full size: 10,000 parties; 20,000 recordings with 1-4 parties each; 100,000 clips attributed to 1-5
recordings each (about 5% still needing review, held in suspense); 1,000,000 usage lines in October 2026.
With --mixed-rights every recording also has a publishing split (1-3 parties), the deal pays 30 % of the
pool to publishing, and one share in five is a composition share: about twice the party amounts.
Uses its own database (recreated on each run): DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/stemma_bench_close. Prints ingest rows/s, the close's wall time and
the process's peak memory (targets: >= 50,000 rows/s, <= 60 s, <= 2 GiB).
"""

import argparse
import cProfile
import itertools
import os
import pstats
import random
import resource
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/stemma_bench_close"


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.startswith("stemma_bench"):
        raise SystemExit(f"refusing to recreate {name!r}: the bench only drops databases named stemma_bench*")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def copy_objects(model, objects) -> int:
    """COPY model instances with their primary keys set (bench seeding only)."""
    from django.db import connection
    from psycopg import sql

    fields = model._meta.concrete_fields
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(sql.Identifier(f.column) for f in fields)
    )
    n = 0
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for obj in objects:
            copy.write_row([f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields])
            n += 1
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT coalesce(max(id), 1) FROM {}))"
            ).format(sql.Identifier(table)),
            [table],
        )
    return n


def six_place_parts(rng: random.Random, k: int, total: int = 1_000_000) -> list[Decimal]:
    """k positive shares with six places summing to total/1e6."""
    cuts = sorted(rng.sample(range(1, total), k - 1)) if k > 1 else []
    bounds = [0, *cuts, total]
    return [Decimal(bounds[i + 1] - bounds[i]).scaleb(-6) for i in range(k)]


def seed(scale: float, rng: random.Random, mixed_rights: bool = False):
    from django.db import transaction

    from catalog.models import Label, Partner, Party, Recording, Split, SplitShare
    from fingerprinting.models import Attribution, AttributionShare, Clip, ReviewState
    from royalties.services import deal_create

    n_parties = max(10, int(10_000 * scale))
    n_recordings = max(20, int(20_000 * scale))
    n_clips = max(100, int(100_000 * scale))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with transaction.atomic():
        label = Label.objects.create(name="Bench Records", slug="bench", default_currency="EUR")
        partner = Partner.objects.create(name="Bench AI", slug="bench-ai")
        deal_create(
            label=label,
            partner=partner,
            royalty_rate=Decimal("0.5"),
            currency="EUR",
            effective_from=date(2020, 1, 1),
            attributed_fraction=Decimal("0.9"),
            publishing_fraction=Decimal("0.3") if mixed_rights else Decimal(0),
        )
        copy_objects(
            Party,
            (Party(id=i, label=label, name=f"Party {i}", created_at=now) for i in range(1, n_parties + 1)),
        )
        copy_objects(
            Recording,
            (
                Recording(id=i, label=label, isrc=f"QZS7M26{i:05d}", title=f"Song {i}", display_artist="Bench",
                          created_at=now, updated_at=now)
                for i in range(1, n_recordings + 1)
            ),
        )  # fmt: skip
        copy_objects(
            Split,
            (Split(id=i, recording_id=i, right_type="master", effective_from=date(2020, 1, 1), created_at=now)
             for i in range(1, n_recordings + 1)),
        )  # fmt: skip
        if mixed_rights:  # publishing split n_recordings + i of recording i
            copy_objects(
                Split,
                (Split(id=n_recordings + i, recording_id=i, right_type="publishing", effective_from=date(2020, 1, 1),
                       created_at=now)
                 for i in range(1, n_recordings + 1)),
            )  # fmt: skip

        def split_shares():
            pk = 0
            splits = [(i, 4) for i in range(1, n_recordings + 1)]
            if mixed_rights:
                splits += [(n_recordings + i, 3) for i in range(1, n_recordings + 1)]
            for split_id, most in splits:
                k = rng.randint(1, most)
                for party_id, share in zip(
                    rng.sample(range(1, n_parties + 1), k), six_place_parts(rng, k), strict=True
                ):
                    pk += 1
                    yield SplitShare(id=pk, split_id=split_id, party_id=party_id, share=share)

        copy_objects(SplitShare, split_shares())
        copy_objects(
            Clip,
            (
                Clip(id=i, label=label, partner=partner, external_id=f"bench-{i}", audio="clips/bench.wav",
                     status="attributed", created_at=now, updated_at=now)
                for i in range(1, n_clips + 1)
            ),
        )  # fmt: skip
        states = [ReviewState.AUTO_ACCEPTED] * 17 + [ReviewState.CONFIRMED] * 2 + [ReviewState.NEEDS_REVIEW]
        plans = []
        for clip_id in range(1, n_clips + 1):
            k = rng.randint(1, 5)
            parts = six_place_parts(rng, k + 1)  # the last part is the unattributed remainder
            plans.append(
                (
                    clip_id,
                    rng.choice(states),
                    parts[-1],
                    list(zip(rng.sample(range(1, n_recordings + 1), k), parts[:-1], strict=True)),
                )
            )
        copy_objects(
            Attribution,
            (
                Attribution(id=clip_id, clip_id=clip_id, version=1, unattributed=rest, review_state=state,
                            engine_name="bench", engine_version="1", created_at=now)
                for clip_id, state, rest, _ in plans
            ),
        )  # fmt: skip

        def attribution_shares():
            pk = 0
            for clip_id, _, _, shares in plans:
                for rank, (recording_id, share) in enumerate(shares, start=1):
                    pk += 1
                    right = "composition" if mixed_rights and rng.random() < 0.2 else "recording"
                    yield AttributionShare(id=pk, attribution_id=clip_id, recording_id=recording_id, rank=rank,
                                           share=share, lane="both", right=right)  # fmt: skip

        copy_objects(AttributionShare, attribution_shares())
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("UPDATE fingerprinting_clip SET current_attribution_id = id")
    return label, partner, n_clips


def usage_rows(rng: random.Random, n_lines: int, n_clips: int):
    territories = ["DE", "FR", "US", "GB", "JP", "BR", ""]
    for i in range(n_lines):
        yield (
            f"U{i:08d}",
            i % n_clips + 1,
            date(2026, 10, rng.randint(1, 31)),
            territories[i % len(territories)],
            rng.randint(0, 5000),
            Decimal(rng.randint(1, 20000)).scaleb(-4),
            "EUR",
            "usage",
        )


def print_partitions(label) -> None:
    """Which partitions hold the usage lines, and which the close's query reads (one, when partitioned)."""
    from django.db import connection

    from royalties.models import UsageLine
    from royalties.partitions import partitioned

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text, count(*) FROM royalties_usageline GROUP BY 1 ORDER BY 1"
        )
        tables = cursor.fetchall()
    plan = UsageLine.objects.filter(
        label=label, usage_date__gte=date(2026, 10, 1), usage_date__lte=date(2026, 10, 31)
    ).explain()
    read = sorted({word for word in plan.split() if word.startswith("royalties_usageline_")})
    print(f"partitioned: {partitioned()}; lines per table: {tables}; the close's query reads {read}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 usage lines")
    parser.add_argument("--seed", type=int, default=20261027)
    parser.add_argument("--profile", action="store_true", help="print the close's top functions (cProfile)")
    parser.add_argument(
        "--mixed-rights",
        action="store_true",
        help="publishing splits, a 30 %% publishing deal, composition shares",
    )
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL
    if "stemma_bench" not in url:
        url = DEFAULT_URL
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    recreate_database(url)

    import django

    django.setup()
    from django.core.management import call_command

    from royalties.reconcile import period_reconcile
    from royalties.services import period_close, usage_ingest_copy

    rng = random.Random(args.seed)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    label, partner, n_clips = seed(args.scale, rng, mixed_rights=args.mixed_rights)
    n_lines = int(1_000_000 * args.scale)
    print(
        f"seeded in {time.perf_counter() - started:.1f} s (scale {args.scale}: {n_clips:,} clips, {n_lines:,} usage lines)"
    )

    # Beat creates each month's partition months ahead (royalties.partitions.usage_partitions_ahead);
    # the bench's month is in the past, so it does what beat would have done back then. Without it
    # the lines would land in the default partition, as only a late report's do in production.
    from royalties.partitions import partitioned, usage_partitions_ensure

    if partitioned():
        usage_partitions_ensure([date(2026, 10, 1)])

    # Partners send batches: ingest in batches of 250,000 lines, each one call (one transaction). The
    # rows are built before each call so that only the ingestion path is timed.
    ingest_s, accepted, duplicates, rejected = 0.0, 0, 0, 0
    rows = usage_rows(rng, n_lines, n_clips)
    while batch := list(itertools.islice(rows, 250_000)):
        t0 = time.perf_counter()
        result = usage_ingest_copy(partner=partner, lines=batch)
        ingest_s += time.perf_counter() - t0
        accepted, duplicates, rejected = (
            accepted + result.accepted,
            duplicates + result.duplicates,
            rejected + result.rejected,
        )
    print(f"usage ingest (COPY): {accepted:,} accepted, {duplicates} duplicates, {rejected} rejected "
          f"in {ingest_s:.2f} s = {n_lines / ingest_s:,.0f} rows/s (target >= 50,000)")  # fmt: skip
    replay = usage_ingest_copy(
        partner=partner, lines=usage_rows(random.Random(0), min(n_lines, 10_000), n_clips)
    )
    print(f"replay of 10,000 lines: {replay.accepted} accepted, {replay.duplicates:,} duplicates")
    print_partitions(label)

    profiler = cProfile.Profile() if args.profile else None
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    closed = period_close(label=label, period="2026-10")
    close_s = time.perf_counter() - t0
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    summary = closed.period.summary
    print(f"close: {close_s:.2f} s (target <= 60; this process's CPU {cpu_s:.1f} s, load average {load:.1f} "
          f"on {os.cpu_count()} CPUs at the start) - {summary['statements']:,} statements, "
          f"{summary['allocations']:,} clip allocations, totals {summary['currencies']}")  # fmt: skip
    t0 = time.perf_counter()
    again = period_close(label=label, period="2026-10")
    print(f"close replay: created={again.created} in {time.perf_counter() - t0:.2f} s")
    report = period_reconcile(label=label, period="2026-10")
    print(f"reconcile: {'OK' if report.ok else report.problems[:5]}")
    print(f"peak memory (ru_maxrss): {peak_rss_mib():,.0f} MiB (target <= 2048)")


if __name__ == "__main__":
    main()
