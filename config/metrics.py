"""Prometheus metrics of our own, read at scrape time from the database and Redis.

Reading state at scrape time (rather than counting in each process) keeps the figures right across many
gunicorn and Celery processes without a multiprocess registry: clips, attributions, webhook deliveries
and closes are all rows. Apps register their collectors with `register()` from their AppConfig.ready().
"""

import logging

from prometheus_client.core import REGISTRY, GaugeMetricFamily

logger = logging.getLogger(__name__)
_registered: set[str] = set()
QUEUES = ("attribution", "io")


def register(name: str, collector) -> None:
    """Register a collector once (ready() can run more than once in tests).

    Collectors define `describe()` so that registering does not call `collect()`: at start-up (and during
    `migrate`) the tables they read may not exist yet.
    """
    if name not in _registered:
        REGISTRY.register(collector)
        _registered.add(name)


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
