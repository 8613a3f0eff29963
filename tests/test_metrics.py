"""/metrics means what it says: gauges for states, counters that only grow, a latency histogram observed
when each attribution is committed, database metrics; one registry across gunicorn's workers (scraped
again and again, through a worker being replaced, no counter goes back); promtool finds nothing to say.
"""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from fingerprinting import events
from fingerprinting.models import Attribution, Clip, ClipStatus
from tests.factories import LabelFactory, PartnerFactory, RecordingFactory
from tests.ops.harness import BIN, ROOT, app_env, free_port, wait_until
from tests.royalties.factories import ClipFactory, attribute

TOKEN = "scrape"


def scrape(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return response.content.decode()


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def promtool_check(text: str) -> None:
    """`promtool check metrics` (Debian's `prometheus` package; .ci/run installs it) has nothing to say."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


@pytest.mark.django_db
def test_states_are_gauges_read_at_scrape_time(client, settings):
    settings.METRICS_TOKEN = TOKEN
    label = LabelFactory()
    clip = ClipFactory(label=label, partner=PartnerFactory())
    attribute(clip, {RecordingFactory(label=label): "1"})
    ClipFactory(label=label, partner=clip.partner, status="queued")
    text = scrape(client)
    found = samples(text)
    assert found["stemma_clips", (("status", "attributed"),)] == 1
    assert found["stemma_clips", (("status", "queued"),)] == 1
    assert found["stemma_clips", (("status", "rejected"),)] == 0  # every status, zero included
    kinds = types(text)
    for name in (
        "stemma_clips",
        "stemma_webhook_deliveries",
        "stemma_webhook_retrying",
        "stemma_queue_depth",
    ):
        assert kinds[name] == "gauge", name
    assert "stemma_period_close_seconds" in kinds
    # Clips move between statuses: the count by status is a gauge now, never a counter going down.
    Clip.objects.filter(status="queued").update(status="attributed")
    assert samples(scrape(client))["stemma_clips", (("status", "queued"),)] == 0


@pytest.mark.django_db
def test_latency_is_observed_once_when_the_first_attribution_commits(
    client, settings, django_capture_on_commit_callbacks
):
    """Not recomputed from rows at scrape time: attributions written without the event do not count,
    and a later version of the same clip does not count again."""
    settings.METRICS_TOKEN = TOKEN
    label = LabelFactory()
    before = samples(scrape(client))

    def count(found, le):
        return found.get(("stemma_attribution_latency_seconds_bucket", (("le", le),)), 0)

    clip = ClipFactory(label=label, partner=PartnerFactory(), status=ClipStatus.QUEUED)
    Clip.objects.filter(pk=clip.pk).update(created_at=timezone.now() - timedelta(seconds=42))
    clip.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        first = attribute(clip, {RecordingFactory(label=label): "1"})
        events.publish(events.CLIP_ATTRIBUTED, clip=clip, attribution=first)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        second = attribute(clip, {RecordingFactory(label=label): "1"})
        events.publish(events.CLIP_ATTRIBUTED, clip=clip, attribution=second)
    attribute(
        ClipFactory(label=label, partner=clip.partner), {RecordingFactory(label=label): "1"}
    )  # no event
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        rejected = ClipFactory(label=label, partner=clip.partner, status="rejected", reject_code="silent")
        events.publish(events.CLIP_REJECTED, clip=rejected, attribution=None)

    after = samples(scrape(client))
    observed = Attribution.objects.get(pk=first.pk).created_at - clip.created_at
    assert 30 < observed.total_seconds() < 60
    assert (
        after["stemma_attribution_latency_seconds_count", ()]
        - before.get(("stemma_attribution_latency_seconds_count", ()), 0)
        == 1
    )
    assert count(after, "60.0") - count(before, "60.0") == 1
    assert count(after, "30.0") - count(before, "30.0") == 0
    rejected_key = ("stemma_clips_rejected_total", (("code", "silent"),))
    assert after[rejected_key] - before.get(rejected_key, 0) == 1


@pytest.mark.django_db
def test_database_metrics_count_statements(client, settings):
    """ARCHITECTURE.md: django-prometheus for the database (its backends count every statement)."""
    settings.METRICS_TOKEN = TOKEN
    vendor = (("alias", "default"), ("vendor", connection.vendor))
    before = samples(scrape(client)).get(("django_db_execute_total", vendor), 0)
    list(Clip.objects.all())
    list(Clip.objects.all())
    after = samples(scrape(client))
    assert after["django_db_execute_total", vendor] >= before + 2
    assert ("django_db_query_duration_seconds_count", vendor) in after


@pytest.mark.django_db
def test_promtool_finds_nothing_in_a_scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN
    ClipFactory(label=LabelFactory(), partner=PartnerFactory())
    promtool_check(scrape(client))


# --------------------------------------------------------------------- gunicorn, two workers, one registry


def _database_for_processes(tmp_path: Path) -> str:
    """A database URL other processes can open, with the test database's tables: the test database
    itself on PostgreSQL; on SQLite (an in-memory test database) a file copy of it."""
    if django_settings.DATABASE_IS_POSTGRES:
        from tests.ops.harness import database_url

        return database_url()
    connection.ensure_connection()
    path = tmp_path / "metrics.sqlite3"
    copy = sqlite3.connect(path)
    connection.connection.backup(copy)
    copy.close()
    return f"sqlite:///{path}"


def _worker_pids(folder: Path) -> set[int]:
    return {int(m.group(1)) for p in folder.glob("*.db") if (m := re.search(r"_(\d+)\.db$", p.name))}


def _hit(base: str, times: int) -> None:
    """`times` requests over 8 connections at once, so that both workers take some."""

    def worker(n):
        with requests.Session() as session:
            for _ in range(n):
                assert session.get(f"{base}/healthz", timeout=10).ok

    threads = [threading.Thread(target=worker, args=(times // 8,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # no open transaction: gunicorn reads the same tables
def test_counters_never_go_back_across_two_gunicorn_workers(tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"an earlier run's counts")  # emptied when gunicorn starts
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = app_env(
        DATABASE_URL=_database_for_processes(tmp_path),
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(folder),
    )
    log = (tmp_path / "gunicorn.log").open("wb")
    argv = [BIN / "gunicorn", "-c", "python:config.gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "60", "--graceful-timeout", "5"]  # fmt: skip
    gunicorn = subprocess.Popen(
        [str(a) for a in argv],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: requests.get(f"{base}/healthz", timeout=2).ok, timeout=60, what="gunicorn")
        assert not (folder / "counter_1.db").exists()

        def metrics() -> str:
            response = requests.get(
                f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
            )
            assert response.status_code == 200, response.text
            return response.text

        wait_until(
            lambda: (_hit(base, 64), len(_worker_pids(folder)) >= 2)[1], timeout=30, what="two workers"
        )
        scrapes = []
        for round_ in range(6):
            if round_ == 3:  # a worker is replaced: its counts stay in the files, the totals do not drop
                victim = min(_worker_pids(folder) - {gunicorn.pid})
                os.kill(victim, signal.SIGTERM)
                wait_until(lambda v=victim: len(_worker_pids(folder) - {v, gunicorn.pid}) >= 2, timeout=30,
                           what="a new worker")  # fmt: skip
            _hit(base, 16)
            scrapes.append(metrics())

        by_scrape = [samples(text) for text in scrapes]
        counters = {
            family.name
            for family in text_string_to_metric_families(scrapes[-1])
            if family.type in ("counter", "histogram")
        }
        assert {
            "django_http_requests_total_by_method",
            "django_db_execute",
            "stemma_attribution_latency_seconds",
        } <= counters
        for earlier, later in zip(by_scrape, by_scrape[1:], strict=False):
            for key, value in earlier.items():
                name = key[0]
                family = re.sub(r"(_total|_count|_sum|_bucket|_created)$", "", name)
                if family in counters and not name.endswith("_created"):
                    assert later.get(key, 0) >= value, (key, value, later.get(key))
        get = (("method", "GET"),)
        requests_seen = [s["django_http_requests_total_by_method_total", get] for s in by_scrape]
        assert all(b - a >= 16 for a, b in zip(requests_seen, requests_seen[1:], strict=False)), requests_seen
        assert len(_worker_pids(folder) - {gunicorn.pid}) >= 3  # two workers and the replacement counted
        promtool_check(scrapes[-1])
    finally:
        os.killpg(gunicorn.pid, signal.SIGTERM)
        gunicorn.wait(30)
        log.close()


def test_gunicorn_without_a_folder_makes_its_own_and_removes_it():
    """config/gunicorn.py: multiprocess mode even when deploy/ did not name a folder."""
    script = (
        "import os, pathlib, config.gunicorn as g\n"
        "folder = pathlib.Path(os.environ['PROMETHEUS_MULTIPROC_DIR'])\n"
        "(folder / 'counter_1.db').write_bytes(b'x')\n"
        "g.on_starting(None)\n"
        "assert folder.is_dir() and not list(folder.iterdir()), list(folder.iterdir())\n"
        "g.on_exit(None)\n"
        "assert not folder.exists()\n"
    )
    env = {k: v for k, v in app_env().items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run(
        [str(BIN / "python"), "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
