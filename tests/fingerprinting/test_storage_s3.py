"""Attribution through an S3-compatible store (moto's server): audio, analyses and index versions are
objects in the bucket, nothing is written under MEDIA_ROOT, and a worker with its own cache fetches a new
version whole before it switches to it, then evicts old ones."""

from pathlib import Path

import boto3
import pytest
from django.conf import settings

from fingerprinting import index as catalog_index
from fingerprinting.models import ClipStatus
from fingerprinting.services import clip_attribute, index_rebuild
from tests.fingerprinting.conftest import recording_audio
from tests.fingerprinting.test_clip_attribute import SR, make_clip

pytestmark = pytest.mark.django_db


def bucket_keys(s3_server: str, bucket: str) -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def files_under(folder: Path) -> list[Path]:
    return [p for p in Path(folder).rglob("*") if p.is_file()]


@pytest.fixture
def on_s3(s3_storage):
    return s3_storage


def test_a_clip_is_attributed_from_objects_in_the_bucket(on_s3, s3_server, label, partner, catalog, indexed):
    clip = make_clip(label, partner, recording_audio(3)[7 * SR : 17 * SR], "s3-excerpt")
    attribution = clip_attribute(clip=clip)
    clip.refresh_from_db()
    assert clip.status == ClipStatus.ATTRIBUTED
    assert attribution.shares.order_by("rank").first().recording_id == catalog[3].pk
    keys = bucket_keys(s3_server, on_s3)
    prefix = f"indexes/attribution/label-{label.pk}"
    assert f"{prefix}/CURRENT" in keys
    assert f"{prefix}/versions/{indexed.version}/meta.json" in keys
    assert f"{prefix}/versions/{indexed.version}/faiss.index" in keys
    assert sum(k.startswith(f"{prefix}/recordings/") for k in keys) == len(catalog)
    assert f"media/{clip.audio.name}" in keys
    assert all(f"media/{r.audio.name}" in keys for r in catalog)
    assert files_under(settings.MEDIA_ROOT) == []  # nothing stored beside the bucket


@pytest.fixture(params=["filesystem", "s3"])
def any_storage(request):
    if request.param == "s3":
        request.getfixturevalue("s3_storage")
    return request.param


def test_a_worker_fetches_a_new_version_before_switching_and_evicts_old_ones(
    any_storage, tmp_path, settings, label, catalog, indexed
):
    writer_cache = settings.INDEX_CACHE_DIR
    worker_cache = tmp_path / "other-host-cache"

    def as_worker():
        settings.INDEX_CACHE_DIR = worker_cache
        catalog_index.forget_loaded()  # another process on another host

    def as_writer():
        settings.INDEX_CACHE_DIR = writer_cache
        catalog_index.forget_loaded()

    as_worker()
    first = catalog_index.open_current(label.pk)
    assert (worker_cache / f"label-{label.pk}" / first.version / "meta.json").exists()
    assert first.path == worker_cache / f"label-{label.pk}" / first.version

    as_writer()
    second = index_rebuild(label=label).version
    third = index_rebuild(label=label).version

    as_worker()
    assert catalog_index.open_current(label.pk).version == third
    cached = sorted(p.name for p in (worker_cache / f"label-{label.pk}").iterdir() if p.name.startswith("v"))
    assert cached == [first.version, third]  # never fetched the second; keeps the one before
    assert second not in cached

    as_writer()
    fourth = index_rebuild(label=label).version
    as_worker()
    assert catalog_index.open_current(label.pk).version == fourth
    cached = sorted(p.name for p in (worker_cache / f"label-{label.pk}").iterdir() if p.name.startswith("v"))
    assert cached == [third, fourth]


def test_a_missing_version_is_never_switched_to(on_s3, label, catalog, indexed):
    with pytest.raises(FileNotFoundError):
        catalog_index.swap_current(label.pk, "v09999-0000000000")
    assert catalog_index.current_version(label.pk) == indexed.version


def test_pruned_versions_leave_the_bucket(on_s3, s3_server, label, catalog, indexed):
    index_rebuild(label=label)
    current = index_rebuild(label=label).version
    pruned = catalog_index.prune_versions(label.pk, keep=1)
    assert len(pruned) == 2
    keys = bucket_keys(s3_server, on_s3)
    assert not [k for k in keys if any(f"/versions/{v}/" in k for v in pruned)]
    assert catalog_index.list_versions(label.pk) == [current]
