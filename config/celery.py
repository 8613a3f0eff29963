import os
import time

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("stemma")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

BEAT_HEARTBEAT_KEY = "stemma:beat:heartbeat"
BEAT_HEARTBEAT_SECONDS = 30


def redis_client():
    """A client for REDIS_URL with short timeouts (None in eager mode, where there is no Redis)."""
    from django.conf import settings

    if not settings.REDIS_URL:
        return None
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


@app.task(name="config.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    """Beat schedules this every BEAT_HEARTBEAT_SECONDS; /readyz reports beat stale when it stops."""
    client = redis_client()
    if client is not None:
        client.set(BEAT_HEARTBEAT_KEY, repr(time.time()), ex=BEAT_HEARTBEAT_SECONDS * 10)


_task_tokens: dict[str, object] = {}


@task_prerun.connect
def _bind_task_id(task_id=None, **_):
    from config.observability import bind_task_id

    _task_tokens[task_id] = bind_task_id(task_id)


@task_postrun.connect
def _unbind_task_id(task_id=None, **_):
    from config.observability import unbind_task_id

    token = _task_tokens.pop(task_id, None)
    if token is not None:
        unbind_task_id(token)


@worker_init.connect
def _worker_metrics_start(**_):
    """A worker's own /metrics (its pool's counters, e.g. attribution latency), when configured: the
    main process, before the pool starts (config.metrics.worker_exporter_start)."""
    from django.conf import settings

    if settings.WORKER_METRICS_PORT:
        from config.metrics import worker_exporter_start

        worker_exporter_start(port=settings.WORKER_METRICS_PORT, address=settings.WORKER_METRICS_ADDRESS)


@worker_process_shutdown.connect
def _worker_process_gone(pid=None, **_):
    from config.metrics import process_dead

    if pid:
        process_dead(pid)


def enqueue_on_commit(task, *args) -> None:
    """Send `task(*args)` once the current transaction commits.

    A broker outage must not fail a request whose rows are already committed: the row stays in its
    queued state, the send failure is logged, and a periodic sweep (clips, webhook deliveries, usage
    reports) sends it again when the broker is back. In eager mode the task runs inline and its own
    errors propagate as usual.
    """
    import logging

    from django.db import transaction
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import RedisError

    def send() -> None:
        if app.conf.task_always_eager:
            task.delay(*args)
            return
        try:
            task.apply_async(args=args)
        except (BrokerError, RedisError, ConnectionError, TimeoutError) as exc:
            logging.getLogger(__name__).warning(
                "could not queue %s%s (%s); the sweep will send it again", task.name, args, exc
            )

    transaction.on_commit(send)
