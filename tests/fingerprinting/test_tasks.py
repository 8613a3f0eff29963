from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import RecordingStatus
from fingerprinting.models import Attribution, Clip, ClipStatus, IndexVersion
from fingerprinting.services import clip_sweep
from fingerprinting.tasks import (
    catalog_index_task,
    clip_attribute_task,
    clip_sweep_task,
    index_rebuild_task,
    recording_index_task,
)
from tests.fingerprinting.conftest import SR, recording_audio
from tests.fingerprinting.test_clip_attribute import make_clip

pytestmark = pytest.mark.django_db


def test_index_tasks_run_twice_safely(label, catalog):
    first = catalog_index_task(label.pk)
    assert first is not None
    assert catalog_index_task(label.pk) is None
    assert recording_index_task(catalog[0].pk) is None  # already indexed
    assert IndexVersion.objects.filter(label=label).count() == 1
    assert all(r.status == RecordingStatus.INDEXED for r in type(catalog[0]).objects.filter(label=label))
    assert recording_index_task(10**9) is None  # gone: returns quietly
    assert index_rebuild_task(10**9) is None
    assert index_rebuild_task(label.pk) is not None


def test_clip_task_runs_twice_safely(label, partner, catalog, indexed):
    clip = make_clip(label, partner, recording_audio(2)[: 8 * SR], "twice")
    first = clip_attribute_task(clip.pk)
    second = clip_attribute_task(clip.pk)
    assert first is not None and second is None
    assert Attribution.objects.filter(clip=clip).count() == 1
    assert clip_attribute_task(10**9) is None


def test_sweep_requeues_stuck_clips(
    label, partner, catalog, indexed, settings, django_capture_on_commit_callbacks
):
    settings.CLIP_PROCESSING_TIMEOUT_SECONDS = 60
    clip = make_clip(label, partner, recording_audio(5)[: 8 * SR], "stuck")
    fresh = make_clip(label, partner, recording_audio(6)[: 8 * SR], "fresh")
    long_ago = timezone.now() - timedelta(seconds=600)
    Clip.objects.filter(pk=clip.pk).update(
        status=ClipStatus.PROCESSING, processing_started_at=long_ago, attempts=1
    )
    Clip.objects.filter(pk=fresh.pk).update(
        status=ClipStatus.PROCESSING, processing_started_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert clip_sweep() == [clip.pk]
    clip.refresh_from_db()
    fresh.refresh_from_db()
    assert clip.status == ClipStatus.ATTRIBUTED and clip.attempts == 2
    assert fresh.status == ClipStatus.PROCESSING  # someone is working on it; left alone
    assert clip_sweep_task() == 0
