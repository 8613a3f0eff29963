"""Identical submissions racing on PostgreSQL create one clip (or usage report), and every racer gets
that clip back.

With an Idempotency-Key the racers block on the key's unique index until the first commits, then
replay its answer; without one, the (partner, external_id) unique constraint decides and the losers
answer the existing clip.
"""

import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from fingerprinting.models import Clip
from partner_api.models import IdempotencyRecord, UsageReport

RACERS = 6


def race(cell, audio: bytes, headers: dict, path: str = "/api/v1/clips", data=None) -> list:
    barrier = threading.Barrier(RACERS)
    answers: list = [None] * RACERS

    def submit(i: int) -> None:
        try:
            client = cell.client()
            body = data() if data else {
                "external_id": "race-1", "title": "Race", "audio": SimpleUploadedFile("r.wav", audio)
            }  # fmt: skip
            barrier.wait(timeout=10)
            response = client.post(path, body, format="multipart", **headers)
            answers[i] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_with_one_idempotency_key_create_one_clip(world, audio):
    answers = race(world.a1, audio, {"HTTP_IDEMPOTENCY_KEY": "race-key"})
    assert Clip.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert {status for status, _ in answers} == {202}
    assert all(body == answers[0][1] for _, body in answers)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_of_one_external_id_create_one_clip(world, audio, settings):
    answers = race(world.a1, audio, {})
    clip = Clip.objects.get()
    assert sorted(status for status, _ in answers) == [200] * (RACERS - 1) + [202]
    assert {body["id"] for _, body in answers} == {clip.pk}
    stored = [p for p in (settings.MEDIA_ROOT / "clips").rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [clip.audio.name.rsplit("/", 1)[1]]  # the losers' copies are gone


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_of_one_report_store_and_process_it_once(world, settings):
    report = b"HEAD,RACE-1,2026-10-01,2026-10-31,EUR\nline_id,external_id,usage_count,net_revenue\nL-1,gen-1,1,1.00\n"
    answers = race(
        world.a1, b"", {}, "/api/v1/usage/reports", lambda: {"file": SimpleUploadedFile("r.csv", report)}
    )
    stored = UsageReport.objects.get()
    assert sorted(status for status, _ in answers) == [200] * (RACERS - 1) + [202]
    assert {body["id"] for _, body in answers} == {stored.pk}
    files = [p for p in (settings.MEDIA_ROOT / "usage_reports").rglob("*") if p.is_file()]
    assert [p.name for p in files] == [stored.file.name.rsplit("/", 1)[1]]  # the losers' copies are gone
