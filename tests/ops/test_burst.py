"""A burst on loopback: 2,000 clip submissions, then 200,000 usage lines, from 4 concurrent clients.

Bounded in count and time. No errors are allowed besides 429s (which the clients honour with
Retry-After, as a partner's client should); nothing is lost and the revenue totals are exact.
"""

import io
import threading
import time
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
import soundfile
from django.conf import settings
from django.db.models import Sum

from demo.synth import synthesize
from fingerprinting.models import Clip
from partner_api.services import apikey_create
from royalties.models import UsageLine
from tests.factories import LabelFactory, PartnerFactory
from tests.ops.harness import RedisServer, app_env, database_url, gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
CLIENTS = 4
CLIPS_PER_CLIENT = 500
BATCHES_PER_CLIENT = 50
LINES_PER_BATCH = 1000
TIME_LIMIT_SECONDS = 900


def tiny_wav(seed: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, synthesize(seed, 3.2, sr=11025), 11025, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


class Client:
    """One partner client: retries a 429 after Retry-After, records every other failure."""

    def __init__(self, base: str, key: str, deadline: float):
        self.base, self.deadline = base, deadline
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.statuses: Counter = Counter()
        self.errors: list[str] = []

    def post(self, path: str, **kwargs) -> requests.Response | None:
        while time.monotonic() < self.deadline:
            response = self.session.post(f"{self.base}{path}", timeout=60, **kwargs)
            self.statuses[response.status_code] += 1
            if response.status_code != 429:
                return response
            time.sleep(float(response.headers.get("Retry-After", "1")))
        self.errors.append(f"{path}: out of time")
        return None


def run_threads(work) -> None:
    threads = [threading.Thread(target=work, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_burst_of_clips_and_usage(tmp_path):
    label, partner = LabelFactory(slug="burst"), PartnerFactory(slug="burst-partner")
    keys = [apikey_create(label=label, partner=partner, name=f"client {n}").raw_key for n in range(CLIENTS)]
    redis = RedisServer(tmp_path)
    redis.start()
    env = app_env(
        DATABASE_URL=database_url(),
        REDIS_URL=redis.url,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        DB_CONN_MAX_AGE="60",
    )
    web, base = gunicorn(env, tmp_path / "web.log", workers=3)
    deadline = time.monotonic() + TIME_LIMIT_SECONDS
    clients = [Client(base, key, deadline) for key in keys]
    audio = [tiny_wav(seed) for seed in range(8)]
    try:
        started = time.monotonic()

        def submit_clips(n: int) -> None:
            client = clients[n]
            for i in range(CLIPS_PER_CLIENT):
                external_id = f"burst-{n}-{i}"
                files = {"audio": (f"{external_id}.wav", audio[i % len(audio)], "audio/wav")}
                response = client.post("/api/v1/clips", data={"external_id": external_id}, files=files)
                if response is not None and response.status_code != 202:
                    client.errors.append(f"clip {external_id}: {response.status_code} {response.text[:200]}")

        run_threads(submit_clips)
        clip_seconds = time.monotonic() - started

        month = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
        expected_revenue = [Decimal(0)] * CLIENTS

        def report_usage(n: int) -> None:
            client = clients[n]
            for b in range(BATCHES_PER_CLIENT):
                lines = []
                for k in range(LINES_PER_BATCH):
                    serial = b * LINES_PER_BATCH + k
                    revenue = Decimal(serial % 997) / 100 + Decimal("0.01")
                    expected_revenue[n] += revenue
                    lines.append({
                        "line_id": f"burst-{n}-{serial}", "external_id": f"burst-{n}-{serial % CLIPS_PER_CLIENT}",
                        "usage_count": 1 + serial % 50, "net_revenue": str(revenue), "territory": "DE",
                        "usage_date": str(month + timedelta(days=serial % 28)),
                    })  # fmt: skip
                body = {"currency": "EUR", "period_start": str(month), "period_end": str(month + timedelta(days=27)),
                        "lines": lines}  # fmt: skip
                response = client.post("/api/v1/usage", json=body)
                if response is None:
                    continue
                if (
                    response.status_code not in (200, 201, 202)
                    or response.json().get("accepted") != LINES_PER_BATCH
                ):
                    client.errors.append(f"usage batch {n}/{b}: {response.status_code} {response.text[:300]}")

        usage_started = time.monotonic()
        run_threads(report_usage)
        usage_seconds = time.monotonic() - usage_started
    finally:
        web.stop()
        redis.stop()

    statuses = sum((c.statuses for c in clients), Counter())
    errors = [e for c in clients for e in c.errors]
    clips = Clip.objects.filter(label=label).count()
    lines = UsageLine.objects.filter(partner=partner).count()
    stored_revenue = UsageLine.objects.filter(partner=partner).aggregate(total=Sum("net_revenue"))["total"]
    print(
        f"burst: {CLIENTS * CLIPS_PER_CLIENT} clips in {clip_seconds:.1f} s "
        f"({CLIENTS * CLIPS_PER_CLIENT / clip_seconds:.0f}/s), {CLIENTS * BATCHES_PER_CLIENT * LINES_PER_BATCH} usage "
        f"lines in {usage_seconds:.1f} s ({CLIENTS * BATCHES_PER_CLIENT * LINES_PER_BATCH / usage_seconds:,.0f} lines/s); "
        f"responses {dict(statuses)}; stored {clips} clips, {lines} lines, revenue {stored_revenue}"
    )
    assert not errors, errors[:5]
    assert set(statuses) <= {200, 201, 202, 429}
    assert clips == CLIENTS * CLIPS_PER_CLIENT
    assert lines == CLIENTS * BATCHES_PER_CLIENT * LINES_PER_BATCH
    assert stored_revenue == sum(expected_revenue, Decimal(0))
