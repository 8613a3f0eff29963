"""Celery tasks: thin wrappers that take ids, load rows and call one service. All safe to run twice
(the services claim their work with a conditional UPDATE). A task whose row is gone returns quietly.

Routed to the CPU-bound "attribution" queue by `CELERY_TASK_ROUTES` ("fingerprinting.tasks.*").
"""

import logging

from celery import shared_task
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from catalog.models import Label, Recording
from fingerprinting.models import Clip

logger = logging.getLogger(__name__)
RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "retry_jitter": True, "max_retries": 3}


@shared_task(acks_late=True, **RETRY)
def clip_attribute_task(clip_id: int) -> int | None:
    from fingerprinting.services import clip_attribute

    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is None:
        return None
    attribution = clip_attribute(clip=clip)
    return attribution.pk if attribution else None


@shared_task(ignore_result=False, acks_late=True)
def index_shard_task(label_id: int, version: str, k: int, method: str, payload: str) -> str:
    """One index shard's answer to one question of a clip's fan-out (fingerprinting.shard_queues); sent
    to the shard's own queue, `attribution-shard-<k>`, and awaited by the clip's attribution task (which
    retries the clip, as for any failure, if no answer comes)."""
    from fingerprinting.services import ENGINE_CONFIG
    from fingerprinting.shard_queues import shard_answer

    return shard_answer(
        label_id=label_id, version=version, k=k, method=method, payload=payload, config=ENGINE_CONFIG
    )


@shared_task(acks_late=True, **RETRY)
def recording_index_task(recording_id: int) -> str | None:
    from fingerprinting.services import recording_index

    recording = Recording.objects.filter(pk=recording_id).first()
    if recording is None:
        return None
    version = recording_index(recording=recording)
    return version.version if version else None


@shared_task(acks_late=True, **RETRY)
def catalog_index_task(label_id: int) -> str | None:
    """Index every pending recording of a label (one new version for the batch)."""
    from fingerprinting.services import catalog_index_update

    label = Label.objects.filter(pk=label_id).first()
    if label is None:
        return None
    version = catalog_index_update(label=label)
    return version.version if version else None


@shared_task(acks_late=True, **RETRY)
def index_rebuild_task(label_id: int) -> str | None:
    from fingerprinting.services import index_rebuild

    label = Label.objects.filter(pk=label_id).first()
    if label is None:
        return None
    version = index_rebuild(label=label)
    return version.version if version else None


@shared_task(acks_late=True)
def clip_sweep_task() -> int:
    from fingerprinting.services import clip_sweep

    return len(clip_sweep())


def index_new_audio(event_type: str, *, label: Label) -> None:
    """catalog.events subscriber, run after the commit: index the label's new audio in a task."""
    try:
        catalog_index_task.delay(label.pk)
    except (BrokerError, RedisError) as exc:  # the recordings stay pending for the next run or index_catalog
        logger.warning("could not queue indexing of %s: %s", label.slug, exc)
