"""Prometheus metrics: what /metrics answers, in one process or many.

Two kinds of figures, each counted where it can be counted right:
- **Events** (requests, queries, finished attributions) are counted by the process they happen in, with
  prometheus_client counters and histograms: django-prometheus for HTTP and the database (its database
  backends, settings.DATABASES), and the apps' own (`fingerprinting.metrics`). Counters only ever grow.
- **States** (clips by status, deliveries pending, queue depth) are gauges read from the database and
  Redis at scrape time by collectors the apps register here (`register()` from AppConfig.ready()),
  because rows are right across any number of processes.

Under gunicorn (and in a Celery worker) several processes count events, and a scrape reaches one of
them. prometheus_client's multiprocess mode makes them one registry: with `PROMETHEUS_MULTIPROC_DIR` set
before prometheus_client is imported, every process writes its counters and histograms to files in that
folder, and a scrape adds up the files of all of them, including workers that have exited since, so a
counter never goes back between scrapes. config/gunicorn.py sets the folder up for the web process (and
empties it when gunicorn starts); `worker_exporter_start` does the same for a Celery worker, which
answers scrapes on its own port. deploy/README.md "Metrics" has the set-up.
"""

import logging
import os
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import REGISTRY, GaugeMetricFamily

logger = logging.getLogger(__name__)
_collectors: dict[str, object] = {}
QUEUES = ("attribution", "io")


def multiprocess_dir() -> Path | None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(folder) if folder else None


def multiprocess_dir_reset(folder: Path, *, keep_pid: int | None = None) -> None:
    """Create the folder, or empty it of an earlier run's files (their counts are not this run's, and
    their number would grow with every restart). The files of `keep_pid` stay: a process that already
    created its metric files keeps writing to them."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.glob("*.db"):
        if keep_pid is None or not path.stem.endswith(f"_{keep_pid}"):
            path.unlink(missing_ok=True)


def register(name: str, collector) -> None:
    """Register a scrape-time collector once (ready() can run more than once in tests).

    Collectors define `describe()` so that registering does not call `collect()`: at start-up (and during
    `migrate`) the tables they read may not exist yet.
    """
    if name in _collectors:
        return
    _collectors[name] = collector
    if multiprocess_dir() is None:
        REGISTRY.register(collector)


def scrape_registry() -> CollectorRegistry:
    """What a scrape reads: every process's counters and histograms (multiprocess mode) or this
    process's (one process), plus the scrape-time collectors."""
    folder = multiprocess_dir()
    if folder is None:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=True)
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    for collector in _collectors.values():
        registry.register(collector)
    return registry


def exposition() -> tuple[bytes, str]:
    """The text format Prometheus reads, and its content type."""
    return generate_latest(scrape_registry()), CONTENT_TYPE_LATEST


def worker_exporter_start(*, port: int, address: str) -> None:
    """Answer scrapes of a Celery worker's metrics on address:port (its main process, before the pool
    starts). The pool processes count in the worker's PROMETHEUS_MULTIPROC_DIR; the exporter adds them
    up. Scrape-time gauges are the web process's to answer, so they are not repeated here."""
    from prometheus_client import start_http_server

    folder = multiprocess_dir()
    if folder is None:
        raise RuntimeError("WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR (deploy/README.md, Metrics)")
    multiprocess_dir_reset(folder, keep_pid=os.getpid())
    registry = CollectorRegistry(auto_describe=True)
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    start_http_server(port, addr=address, registry=registry)
    logger.info("worker metrics on http://%s:%s/metrics (from %s)", address, port, folder)


def process_dead(pid: int) -> None:
    """A process of the group exited: drop its live gauges (its counters stay counted)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid, path=str(multiprocess_dir()))


class QueueDepthCollector:
    def describe(self):
        yield GaugeMetricFamily("stemma_queue_depth", "Tasks waiting in each Celery queue", labels=["queue"])

    def collect(self):
        from config.celery import redis_client

        gauge = GaugeMetricFamily(
            "stemma_queue_depth", "Tasks waiting in each Celery queue", labels=["queue"]
        )
        client = redis_client()
        if client is not None:
            try:
                for queue in QUEUES:
                    gauge.add_metric([queue], client.llen(queue))
            except Exception as exc:  # a scrape must not fail because Redis is down; readyz reports that
                logger.warning("queue depth unavailable: %s", exc)
        yield gauge


register("queues", QueueDepthCollector())
