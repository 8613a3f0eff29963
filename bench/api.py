"""Benchmark: the partner API under a bounded load on 127.0.0.1, against gunicorn started here.

    .venv/bin/python bench/api.py                 # PostgreSQL database stemma_bench_api (recreated)
    .venv/bin/python bench/api.py --sqlite        # its own SQLite file instead
    .venv/bin/python bench/api.py --requests 500  # a quicker run

Measures requests/s and p50/p99 latency for `GET /api/v1/clips/{id}`, `POST /api/v1/usage` (1,000-line
batches, fresh line ids each time) and a bare DRF view served by the same gunicorn in the same run, and
prints the ratio of `GET /clips/{id}` to the bare view (target: >= 0.6). Throughput on a shared machine
moves with whatever else runs, so it also prints the server CPU per request (gunicorn workers, their
PostgreSQL backends, Redis), which does not. `--redis URL` uses Redis as the cache, as production does.

The bare view lives here, in a bench-only URLconf (this module's `urlpatterns`: the bare view, then
the project's `config.urls`); gunicorn serves `bench.api:application`, which points ROOT_URLCONF at it.
So production has no benchmark route, and the bare view passes the same middleware as the API. It has
no authentication, permission or throttle classes: the ratio is the price of everything the API adds
(key lookup, per-key throttles, the scoped query, serialization).
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/stemma_bench_api"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


# --------------------------------------------------------------------------- served by gunicorn


def _bench_urlpatterns() -> list:
    from django.urls import include, path
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class BareApi(APIView):
        authentication_classes: list = []
        permission_classes: list = []
        throttle_classes: list = []

        def get(self, request):
            return Response({"id": 1, "status": "queued"})

    return [path("bench/bare", BareApi.as_view()), path("", include("config.urls"))]


def __getattr__(name: str):
    # Django reads `urlpatterns` only once apps are loaded; building it lazily keeps this module
    # importable before django.setup() (the bench process imports it to seed the database first).
    if name == "urlpatterns":
        globals()["urlpatterns"] = patterns = _bench_urlpatterns()
        return patterns
    raise AttributeError(name)


def application(environ, start_response):
    handler = _handler()
    return handler(environ, start_response)


_wsgi = None


def _handler():
    global _wsgi
    if _wsgi is None:
        from django.conf import settings
        from django.core.wsgi import get_wsgi_application

        _wsgi = get_wsgi_application()
        settings.ROOT_URLCONF = "bench.api"
    return _wsgi


# ------------------------------------------------------------------------------------ the bench


def recreate_postgres(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.startswith("stemma_bench"):
        raise SystemExit(f"refusing to recreate {name!r}: the bench only drops databases named stemma_bench*")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def seed(clips: int) -> dict:
    """A label, a partner, its key and `clips` queued clips; returns what the load needs."""
    import django

    django.setup()
    from django.core.management import call_command

    from catalog.models import Label, Partner
    from fingerprinting.models import Clip
    from partner_api.services import apikey_create

    call_command("migrate", verbosity=0, interactive=False)
    label = Label.objects.create(name="Bench Records", slug="bench-records")
    partner = Partner.objects.create(name="Bench AI", slug="bench-ai")
    raw_key = apikey_create(label=label, partner=partner, name="bench").raw_key
    Clip.objects.bulk_create(
        Clip(
            label=label,
            partner=partner,
            external_id=f"bench-{n}",
            title=f"Bench clip {n}",
            audio=f"clips/bench/{n}.wav",
            audio_sha256=f"{n:064d}",
            audio_format="wav",
            duration_seconds=30.0,
        )
        for n in range(clips)
    )
    ids = list(Clip.objects.filter(partner=partner).values_list("pk", flat=True))
    from django.db import connections

    connections.close_all()
    return {"key": raw_key, "clip_ids": ids}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerCpu:
    """CPU seconds used so far by what serves the API: the gunicorn workers, their PostgreSQL backends
    and Redis. Throughput on a shared machine moves with whatever else runs; CPU per request does not."""

    def __init__(self, gunicorn_pid: int, database_url: str | None, redis_url: str | None):
        self.gunicorn_pid = gunicorn_pid
        self.database_url = database_url
        self.redis_url = redis_url
        self.tick = os.sysconf("SC_CLK_TCK")

    def _process(self, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime

    def _children(self, pid: int) -> list[int]:
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []

    def _backends(self) -> list[int]:
        import psycopg

        name = urlparse(self.database_url).path.lstrip("/")
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
            ).fetchall()
        return [row[0] for row in rows]

    def _redis(self) -> float:
        import redis

        info = redis.Redis.from_url(self.redis_url).info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def read(self) -> float:
        pids = self._children(self.gunicorn_pid) + (self._backends() if self.database_url else [])
        return sum(self._process(pid) for pid in pids) + (self._redis() if self.redis_url else 0.0)


def start_gunicorn(env: dict, port: int, workers: int) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "bench.api:application",
        "--chdir",
        str(ROOT),
        "--config",  # production's: Prometheus multiprocess mode, as deploy/ runs the web process
        "python:config.gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def load(name: str, make_request, count: int, concurrency: int, cpu: ServerCpu | None = None) -> dict:
    """Send `count` requests from `concurrency` threads; latencies and throughput of the 2xx answers."""
    import requests

    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    counter = iter(range(count))

    def worker() -> None:
        session = requests.Session()
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            method, url, kwargs = make_request(n)
            started = time.perf_counter()
            response = session.request(method, url, timeout=60, **kwargs)
            elapsed = time.perf_counter() - started
            with lock:
                (latencies if response.ok else failures).append(
                    elapsed if response.ok else response.status_code
                )

    cpu_before = cpu.read() if cpu else 0.0
    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu_seconds = (cpu.read() - cpu_before) if cpu else float("nan")
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {
        "name": name,
        "requests": len(latencies),
        "errors": failures[:5],
        "rps": len(latencies) / wall,
        "p50_ms": quantiles[49] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "cpu_ms": cpu_seconds * 1000 / max(1, len(latencies) + len(failures)),
    }


def usage_body(n: int, clip_ids: list[int], lines: int) -> bytes:
    from datetime import date, timedelta

    today = date.today()
    start = today.replace(day=1) if today.day > 1 else (today - timedelta(days=1)).replace(day=1)
    return json.dumps(
        {
            "currency": "EUR",
            "period_start": str(start),
            "period_end": str(today),
            "lines": [
                {
                    "line_id": f"b{n}-{i}",
                    "clip_id": clip_ids[(n * lines + i) % len(clip_ids)],
                    "usage_count": 10 + i % 7,
                    "net_revenue": f"{(i % 100) / 10:.2f}",
                    "territory": "DE",
                }
                for i in range(lines)
            ],
        }
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sqlite", action="store_true", help="use a temporary SQLite file, not PostgreSQL")
    parser.add_argument("--requests", type=int, default=2000, help="GET requests per phase")
    parser.add_argument("--usage-batches", type=int, default=40, help="POST /usage requests of --lines each")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument(
        "--redis",
        metavar="URL",
        help="use this Redis as the cache (key lookups, throttles), as production does; default: in-process cache",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="stemma-bench-api-"))
    if args.sqlite:
        database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL)
        recreate_postgres(database_url)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
        "FIELD_ENCRYPTION_KEYS": "YmVuY2gtb25seS1rZXktbm90LWZvci1wcm9kLXVzZSE=",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on the loopback; production sits behind TLS
        "STEMMA_VAR_DIR": str(workdir),
        "LOG_LEVEL": "WARNING",
        "API_THROTTLE_RATE": "100000000/min",  # measure the throttle's cost, never its 429s
        "API_THROTTLE_BURST_RATE": "10000000/s",
        "DB_CONN_MAX_AGE": "60",
        "PYTHONPATH": str(ROOT),
    }
    if args.redis:
        env["REDIS_URL"] = args.redis
    else:
        env.pop("REDIS_URL", None)
    os.environ.update(env)
    seeded = seed(args.clips)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {seeded['key']}"}
    clip_ids = seeded["clip_ids"]
    bodies = [usage_body(n, clip_ids, args.lines) for n in range(args.usage_batches)]

    server = start_gunicorn(env, port, args.workers)
    cpu = ServerCpu(server.pid, None if args.sqlite else database_url, args.redis)
    try:
        bare = lambda n: ("GET", f"{base}/bench/bare", {"headers": auth})  # noqa: E731
        clip = lambda n: ("GET", f"{base}/api/v1/clips/{clip_ids[n % len(clip_ids)]}", {"headers": auth})  # noqa: E731
        usage = lambda n: (  # noqa: E731
            "POST",
            f"{base}/api/v1/usage",
            {"headers": {**auth, "Content-Type": "application/json"}, "data": bodies[n]},
        )
        load("warm-up", clip, 200, args.concurrency)
        load("warm-up", bare, 200, args.concurrency)
        # Alternate the two GET phases so drift on a shared machine hits both alike.
        rounds = [
            (
                load("bare", bare, args.requests // 2, args.concurrency, cpu),
                load("clip", clip, args.requests // 2, args.concurrency, cpu),
            )
            for _ in range(2)
        ]
        # SQLite takes one writer at a time (two concurrent batches fail with "database is locked").
        writers = 1 if args.sqlite else min(args.concurrency, 2)
        usage_result = load(f"POST /usage ({args.lines} lines)", usage, args.usage_batches, writers, cpu)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    def merged(name: str, parts: list[dict]) -> dict:
        return {
            "name": name,
            "requests": sum(p["requests"] for p in parts),
            "errors": [e for p in parts for e in p["errors"]],
            "rps": statistics.mean(p["rps"] for p in parts),
            "p50_ms": statistics.mean(p["p50_ms"] for p in parts),
            "p99_ms": statistics.mean(p["p99_ms"] for p in parts),
            "cpu_ms": statistics.mean(p["cpu_ms"] for p in parts),
        }

    bare_result = merged("bare DRF view", [r[0] for r in rounds])
    clip_result = merged("GET /api/v1/clips/{id}", [r[1] for r in rounds])
    print(
        f"database: {'SQLite' if args.sqlite else 'PostgreSQL'}; cache: {'Redis' if args.redis else 'in-process'}; "
        f"gunicorn sync workers: {args.workers}; "
        f"client threads: {args.concurrency}; cores: {os.cpu_count()}"
    )
    print(f"{'endpoint':34} {'requests':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7}  errors")
    for result in (bare_result, clip_result, usage_result):
        print(
            f"{result['name']:34} {result['requests']:8d} {result['rps']:9.1f} {result['p50_ms']:8.2f} "
            f"{result['p99_ms']:8.2f} {result['cpu_ms']:7.2f}  {result['errors'] or '-'}"
        )
    print(
        "CPU ms: server CPU per request (gunicorn workers, their PostgreSQL backends, Redis; not the client)"
    )
    lines_per_s = usage_result["rps"] * args.lines
    print(f"POST /usage: {lines_per_s:,.0f} usage lines/s")
    ratio = clip_result["rps"] / bare_result["rps"]
    print(f"ratio GET /clips/{{id}} / bare view: {ratio:.2f} (target >= 0.6)")
    print(
        f"server CPU per request, bare view / GET /clips/{{id}}: {bare_result['cpu_ms'] / clip_result['cpu_ms']:.2f}"
    )


if __name__ == "__main__":
    main()
