"""Celery tasks: thin wrappers that take ids, load rows and call one service. All safe to run twice.

Routed to the CPU-bound "attribution" queue by `CELERY_TASK_ROUTES` ("fingerprinting.tasks.*").
"""

from celery import shared_task

from fingerprinting.models import Clip


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, retry_jitter=True, max_retries=3)
def clip_attribute_task(clip_id: int) -> None:
    from fingerprinting.services import clip_attribute

    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is None:
        return
    clip_attribute(clip=clip)
