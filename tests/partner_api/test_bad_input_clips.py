"""Bad clip submissions: each answers its 4xx with a stable code, and nothing is written."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fingerprinting.models import Clip
from partner_api.models import IdempotencyRecord
from tests.partner_api.conftest import silence_wav, wav_bytes

pytestmark = pytest.mark.django_db

CLIPS = "/api/v1/clips"


def post(client, audio: bytes | None, name="clip.wav", headers=None, **fields):
    data = {"external_id": "gen-1", **fields}
    if audio is not None:
        data["audio"] = SimpleUploadedFile(name, audio, content_type="audio/wav")
    return client.post(CLIPS, data, format="multipart", **(headers or {}))


def assert_refused(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert Clip.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_empty_multipart_body(world):
    response = world.a1.client().post(CLIPS, {}, format="multipart")
    assert_refused(response, 400, "invalid")
    assert "audio" in response.json()["error"]["fields"]


def test_empty_raw_body(world):
    response = world.a1.client().post(CLIPS, b"", content_type="multipart/form-data")
    assert_refused(response, 400, "invalid")


def test_multipart_without_a_boundary(world):
    response = world.a1.client().post(CLIPS, b"garbage", content_type="multipart/form-data")
    assert_refused(response, 400, "parse_error")


def test_json_instead_of_multipart(world):
    response = world.a1.client().post(CLIPS, {"external_id": "x"}, format="json")
    assert_refused(response, 415, "unsupported_media_type")


def test_empty_file(world):
    assert_refused(post(world.a1.client(), b""), 400, "invalid")


def test_truncated_audio(world, audio):
    response = post(world.a1.client(), audio[: len(audio) // 3], headers={"HTTP_IDEMPOTENCY_KEY": "t-1"})
    assert_refused(response, 422, "undecodable_audio")


def test_a_text_file_named_wav(world):
    response = post(world.a1.client(), b"just some text, honestly\n" * 20, name="song.wav")
    assert_refused(response, 415, "unsupported_audio")


def test_oversized_upload_by_file_size(world, settings):
    """The file over MAX_AUDIO_UPLOAD_BYTES (the body within its limit): the specific code."""
    settings.MAX_AUDIO_UPLOAD_BYTES = 64 * 1024
    assert_refused(post(world.a1.client(), wav_bytes(seconds=3)), 413, "audio_too_large")


def test_oversized_upload_by_content_length(world, settings):
    settings.MAX_AUDIO_UPLOAD_BYTES = 2048  # the body is refused before it is parsed
    assert_refused(post(world.a1.client(), wav_bytes(seconds=8)), 413, "payload_too_large")


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"generated_at": "99999-01-01T00:00:00Z"}, "generated_at"),
        ({"generated_at": "0000-00-00T00:00:00Z"}, "generated_at"),
        ({"generated_at": "yesterday"}, "generated_at"),
        ({"extra": '{"x": NaN}'}, "extra"),
        ({"extra": "[1, 2]"}, "extra"),
        ({"extra": "{not json"}, "extra"),
        ({"declared_references": ["NOT-AN-ISRC"]}, "declared_references"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 201}, "external_id"),
        ({"external_id": "nul\x00byte"}, "external_id"),
        ({"title": "t" * 301}, "title"),
    ],
)
def test_bad_metadata(world, audio, fields, bad_field):
    response = post(world.a1.client(), audio, **fields)
    assert_refused(response, 400, "invalid")
    assert bad_field in response.json()["error"]["fields"]


def test_bad_idempotency_key(world, audio):
    response = post(world.a1.client(), audio, headers={"HTTP_IDEMPOTENCY_KEY": "k" * 300})
    assert_refused(response, 400, "idempotency_key_invalid")


def test_silent_clip_is_accepted_and_left_to_processing(world):
    response = post(world.a1.client(), silence_wav())
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


def test_unicode_metadata_round_trips(world, audio):
    title = "Nachtfahrt \u2014 \u591c\u306e\u30c9\u30e9\u30a4\u30d6 \U0001f3b6 \u202e"
    response = post(world.a1.client(), audio, title=title, extra='{"\u00e9": "\u2603"}')
    assert response.status_code == 202
    assert response.json()["title"] == title and response.json()["extra"] == {"\u00e9": "\u2603"}
