"""Catalog import speed: N recordings with 3 split shares each, metadata only, through the real service.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stemma_bench DEBUG=1 .venv/bin/python bench/catalog_import.py

Prints the wall time and rows/s of each run and the median over --runs runs (each into a fresh label).
Target (issue 2): 10,000 recordings with 30,000 splits under 15 s on PostgreSQL.
"""

import argparse
import csv
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from stdnum import isrc as stdnum_isrc  # noqa: E402

from catalog.importer import COLUMNS, catalog_import  # noqa: E402
from catalog.models import Label  # noqa: E402


def build_csv(recordings: int) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for n in range(recordings):
        base = {
            "isrc": stdnum_isrc.compact(f"QZ-B3N-25-{n:05d}"),
            "title": f"Bench Song {n}",
            "display_artist": f"Artist {n % 997}",
            "duration_seconds": f"{60 + n % 120}.0",
        }
        for party, share in (
            (f"Artist {n % 997}", "0.5"),
            (f"Writer {n % 1499}", "0.3"),
            ("Bench Records", "0.2"),
        ):
            writer.writerow(base | {"party_name": party, "right_type": "master", "share": share,
                                    "effective_from": "2024-01-01"})  # fmt: skip
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recordings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    text = build_csv(args.recordings)
    lines = text.count("\n") - 1
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database: {engine}; {args.recordings} recordings, {lines} split lines per run")
    times = []
    for run in range(args.runs):
        label = Label.objects.create(name=f"Bench {time.time_ns()}", slug=f"bench-{time.time_ns()}")
        start = time.perf_counter()
        report = catalog_import(label=label, csv_text=text)
        elapsed = time.perf_counter() - start
        assert report.ok and report.recordings_created == args.recordings, report.errors[:3]
        times.append(elapsed)
        print(
            f"run {run + 1}: {elapsed:.2f} s, {lines / elapsed:,.0f} lines/s, {args.recordings / elapsed:,.0f} recordings/s"
        )
        rerun_start = time.perf_counter()
        again = catalog_import(label=label, csv_text=text)
        assert again.recordings_unchanged == args.recordings and again.splits_created == 0
        print(f"        idempotent re-run: {time.perf_counter() - rerun_start:.2f} s (nothing written)")
    median = statistics.median(times)
    print(f"median: {median:.2f} s, {lines / median:,.0f} lines/s (target: < 15 s for 10,000 recordings)")


if __name__ == "__main__":
    main()
