"""Identical submissions racing on PostgreSQL create one clip, and every racer gets that clip back.

With an Idempotency-Key the racers block on the key's unique index until the first commits, then
replay its answer; without one, the (partner, external_id) unique constraint decides and the losers
answer the existing clip.
"""

import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from fingerprinting.models import Clip
from partner_api.models import IdempotencyRecord

RACERS = 6


def race(cell, audio: bytes, headers: dict) -> list:
    barrier = threading.Barrier(RACERS)
    answers: list = [None] * RACERS

    def submit(i: int) -> None:
        try:
            client = cell.client()
            data = {"external_id": "race-1", "title": "Race", "audio": SimpleUploadedFile("r.wav", audio)}
            barrier.wait(timeout=10)
            response = client.post("/api/v1/clips", data, format="multipart", **headers)
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
def test_concurrent_submissions_of_one_external_id_create_one_clip(world, audio):
    answers = race(world.a1, audio, {})
    clip = Clip.objects.get()
    assert sorted(status for status, _ in answers) == [200] * (RACERS - 1) + [202]
    assert {body["id"] for _, body in answers} == {clip.pk}
