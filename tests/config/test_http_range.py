"""Byte ranges on the audio endpoints (config.http_range): a player seeks to the matched second."""

import io

import pytest
from django.core.files.base import ContentFile
from django.test import RequestFactory
from django.urls import reverse

from config.http_range import RangeNotSatisfiable, byte_range, ranged_file_response
from tests.factories import LabelFactory, PartnerFactory, RecordingFactory, member
from tests.royalties.factories import ClipFactory

BODY = bytes(range(256)) * 40  # 10,240 bytes


@pytest.mark.parametrize(
    "header, expected",
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 10239)),
        ("bytes=-240", (10000, 10239)),
        ("bytes=10000-99999", (10000, 10239)),  # a last byte past the end is the end
        ("bytes=-99999", (0, 10239)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_byte_range_reads_one_range(header, expected):
    assert byte_range(header, len(BODY)) == expected


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=50-10", "bytes=-0"])
def test_byte_range_refuses_what_selects_nothing(header):
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, len(BODY))


def _get(**headers):
    request = RequestFactory().get("/x", headers=headers)
    return ranged_file_response(request, io.BytesIO(BODY), content_type="audio/wav", filename="x.wav")


def test_partial_answer_has_the_asked_bytes_and_headers():
    response = _get(Range="bytes=1000-1999")
    assert response.status_code == 206 and b"".join(response.streaming_content) == BODY[1000:2000]
    assert response["Content-Range"] == "bytes 1000-1999/10240" and response["Content-Length"] == "1000"
    assert response["Accept-Ranges"] == "bytes"


def test_whole_file_without_range_or_with_if_range():
    for headers in ({}, {"Range": "bytes=0-9", "If-Range": '"x"'}):
        response = _get(**headers)
        assert response.status_code == 200 and b"".join(response.streaming_content) == BODY
        assert response["Accept-Ranges"] == "bytes"


def test_unsatisfiable_range_is_416_with_the_size():
    response = _get(Range="bytes=99999-")
    assert response.status_code == 416 and response["Content-Range"] == "bytes */10240"


@pytest.mark.django_db
def test_clip_and_recording_audio_answer_ranges(client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    label = LabelFactory()
    wav = b"RIFF" + (len(BODY) + 36).to_bytes(4, "little") + b"WAVEfmt " + bytes(24) + b"data" + BODY
    clip = ClipFactory(label=label, partner=PartnerFactory(), audio=None)
    clip.audio.save("c.wav", ContentFile(wav), save=True)
    recording = RecordingFactory(label=label)
    recording.audio.save("r.wav", ContentFile(wav), save=True)
    client.force_login(member("rita", label))
    for url in (
        reverse("fingerprinting:clip-audio", args=[clip.pk]),
        reverse("catalog:recording-audio", args=[recording.pk]),
    ):
        response = client.get(url, headers={"Range": "bytes=44-1043"})
        assert response.status_code == 206, url
        assert b"".join(response.streaming_content) == wav[44:1044]
        assert response["Content-Range"] == f"bytes 44-1043/{len(wav)}"
    other = member("bob", LabelFactory())
    client.force_login(other)
    assert (
        client.get(
            reverse("fingerprinting:clip-audio", args=[clip.pk]), headers={"Range": "bytes=0-1"}
        ).status_code
        == 404
    )
