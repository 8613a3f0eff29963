"""POST/GET /clips, idempotency, external_id replays, filters, cursor pagination, attributions."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from fingerprinting.models import Clip, ClipStatus
from partner_api.models import IdempotencyRecord
from tests.partner_api.conftest import make_attribution, make_clip, wav_bytes

pytestmark = pytest.mark.django_db

CLIPS = "/api/v1/clips"


def submit(client, audio: bytes, idempotency_key: str | None = None, **fields):
    data = {"external_id": "gen-1", "title": "Night drive", "model_name": "tg-2", **fields}
    data["audio"] = SimpleUploadedFile("clip.wav", audio, content_type="audio/wav")
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    return client.post(CLIPS, data, format="multipart", **headers)


def test_submit_answers_202_with_links_and_belongs_to_the_keys_label(world, audio):
    response = submit(
        world.a1.client(),
        audio,
        declared_references=["QZ-S7M-26-00001", "QZS7M2600002"],
        extra='{"prompt": "lofi", "seed": 4}',
        generated_at="2026-11-01T10:00:00Z",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    clip = Clip.objects.get(pk=body["id"])
    assert (clip.label, clip.partner, clip.status) == (world.a1.label, world.a1.partner, ClipStatus.QUEUED)
    assert body["status"] == "queued"
    assert body["declared_references"] == ["QZS7M2600001", "QZS7M2600002"]
    assert body["extra"] == {"prompt": "lofi", "seed": 4}
    assert body["audio_format"] == "wav"
    assert body["links"]["self"] == f"/api/v1/clips/{clip.pk}"
    assert response["Location"] == body["links"]["self"]


def test_idempotency_key_replay_returns_the_first_answer(world, audio):
    client = world.a1.client()
    first = submit(client, audio, idempotency_key="k-1")
    Clip.objects.filter(pk=first.json()["id"]).update(status=ClipStatus.PROCESSING)
    replay = submit(client, audio, idempotency_key="k-1")
    assert replay.status_code == first.status_code == 202
    assert replay.json() == first.json()  # the first answer, not the clip's state now
    assert replay["Idempotent-Replayed"] == "true"
    assert Clip.objects.count() == 1


def test_idempotency_key_with_another_body_is_409(world, audio):
    client = world.a1.client()
    assert submit(client, audio, idempotency_key="k-1").status_code == 202
    conflict = submit(client, audio, idempotency_key="k-1", title="Another title")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert Clip.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_idempotency_keys_are_per_partner(world, audio):
    assert submit(world.a1.client(), audio, idempotency_key="same").status_code == 202
    assert submit(world.a2.client(), audio, idempotency_key="same").status_code == 202
    assert Clip.objects.count() == 2


def test_same_external_id_same_body_returns_the_existing_clip(world, audio):
    client = world.a1.client()
    first = submit(client, audio)
    again = submit(client, audio)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Clip.objects.count() == 1


@pytest.mark.parametrize("change", [{"title": "Other"}, {"audio": "other"}])
def test_same_external_id_other_body_is_409(world, audio, change):
    client = world.a1.client()
    assert submit(client, audio).status_code == 202
    other_audio = wav_bytes(seed=99) if change.pop("audio", None) else audio
    response = submit(client, other_audio, **change)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "external_id_conflict"


def test_detail_and_list_with_filters_and_cursor(world):
    clips = [make_clip(world.a1, external_id=f"gen-{n}") for n in range(5)]
    Clip.objects.filter(pk=clips[0].pk).update(status=ClipStatus.REJECTED, reject_code="silent")
    client = world.a1.client()
    detail = client.get(f"{CLIPS}/{clips[0].pk}").json()
    assert detail["reject"] == {"code": "silent", "message": ""}

    page = client.get(CLIPS, {"limit": 2}).json()
    assert [c["external_id"] for c in page["results"]] == ["gen-4", "gen-3"]
    seen = [c["id"] for c in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [c["id"] for c in page["results"]]
    assert sorted(seen) == sorted(c.pk for c in clips)

    rejected = client.get(CLIPS, {"status": "rejected"}).json()["results"]
    assert [c["id"] for c in rejected] == [clips[0].pk]
    by_external = client.get(CLIPS, {"external_id": "gen-2"}).json()["results"]
    assert [c["id"] for c in by_external] == [clips[2].pk]
    assert client.get(CLIPS, {"created_after": "2999-01-01T00:00:00Z"}).json()["results"] == []
    assert len(client.get(CLIPS, {"created_before": "2999-01-01T00:00:00Z"}).json()["results"]) == 5


def test_attribution_current_and_all_versions(world):
    clip = make_clip(world.a1)
    client = world.a1.client()
    pending = client.get(f"{CLIPS}/{clip.pk}/attribution")
    assert pending.status_code == 404
    assert pending.json()["error"]["code"] == "attribution_not_ready"

    make_attribution(clip, version=1, shares=("0.600000", "0.250000"))
    make_attribution(clip, version=2, shares=("0.700000",), reason="review")
    current = client.get(f"{CLIPS}/{clip.pk}/attribution").json()
    assert current["version"] == 2 and current["is_current"] is True
    assert current["unattributed"] == "0.300000"
    assert current["engine"] == {
        "name": "stemma-test",
        "version": "0.1",
        "embedder_version": "",
        "index_version": "idx-1",
    }
    assert current["shares"][0]["share"] == "0.700000"
    assert set(current["shares"][0]["recording"]) == {"isrc", "title", "display_artist"}
    versions = client.get(f"{CLIPS}/{clip.pk}/attributions").json()
    assert [(v["version"], v["is_current"]) for v in versions] == [(2, True), (1, False)]
    assert [s["share"] for s in versions[1]["shares"]] == ["0.600000", "0.250000"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"created_after": "2026-06-01T17:56:44+22:29"}, 200),  # legal in ISO 8601, not in PostgreSQL
        ({"created_after": "9999-12-31T23:59:59-23:00"}, 400),  # beyond year 9999 in UTC
        ({"created_after": "yesterday"}, 400),
        ({"status": "exploded"}, 400),
        ({"cursor": "garbage"}, 400),
        ({"limit": "-1"}, 400),
    ],
)
def test_odd_filters_are_answered_not_crashed(world, params, status):
    response = world.a1.client().get(CLIPS, params)
    assert response.status_code == status, response.content
    if status == 400:
        assert response.json()["error"]["code"] in {"invalid", "invalid_cursor", "invalid_limit"}


def test_unknown_paths_and_non_numeric_ids_are_404_in_the_error_shape(world):
    for url in ("/api/v1/clips/abc", "/api/v1/clips/-1", "/api/v1/nope", f"{CLIPS}/{2**64}"):
        response = world.a1.client().get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"


def test_the_fast_clip_representation_matches_its_declared_fields(world):
    from rest_framework import serializers

    from partner_api.serializers import ClipSerializer

    clip = make_clip(world.a1, generated_at="2026-11-01T10:00:00Z", extra={"a": 1}, reject_code="silent")
    clip.refresh_from_db()
    fast = ClipSerializer(clip).data
    slow = serializers.Serializer.to_representation(ClipSerializer(clip), clip)
    assert fast == slow
    assert list(fast) == list(ClipSerializer().fields)


def test_idempotency_records_are_pruned_after_a_week(world, audio):
    from datetime import timedelta

    from django.utils import timezone

    from partner_api.services import idempotency_records_prune

    submit(world.a1.client(), audio, idempotency_key="old")
    assert idempotency_records_prune() == 0
    assert idempotency_records_prune(now=timezone.now() + timedelta(days=8)) == 1


def polyglot_wav(audio: bytes) -> bytes:
    """A valid WAV whose extra chunk is an HTML page with a script: audio to a decoder, a page to a
    browser that sniffs or trusts an .html name."""
    html = b"<html><body><script>document.title='pwned';alert(document.cookie)</script></body></html>"
    chunk = b"html" + len(html).to_bytes(4, "little") + html + (b"\0" if len(html) % 2 else b"")
    body = audio[12:] + chunk
    return b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WAVE" + body


def test_a_polyglot_named_html_is_stored_by_content_and_served_as_audio(world, audio, client):
    """Issue 13: the uploader's name (x.html) used to become the stored name, and the audio view then
    answered text/html. Stored names are `<sha256>.<sniffed format>`; the view answers the sniffed
    audio type with nosniff."""
    import hashlib

    from catalog.models import Membership, Role
    from tests.factories import UserFactory

    data = polyglot_wav(audio)
    upload = SimpleUploadedFile("x.html", data, content_type="text/html")
    response = world.a1.client().post(CLIPS, {"external_id": "poly", "audio": upload}, format="multipart")
    assert response.status_code == 202, response.json()
    clip = Clip.objects.get(pk=response.json()["id"])
    assert clip.audio.name.rsplit("/", 1)[1] == f"{hashlib.sha256(data).hexdigest()}.wav"

    admin = UserFactory(username="ada")
    Membership.objects.create(user=admin, label=world.a1.label, role=Role.ADMIN)
    client.force_login(admin)
    served = client.get(f"/clips/{clip.pk}/audio.bin")
    assert served.status_code == 200
    assert served["Content-Type"] == "audio/wav"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Disposition"].startswith("inline") and ".html" not in served["Content-Disposition"]
    assert b"".join(served.streaming_content) == data


def test_the_same_bytes_from_two_partners_are_one_stored_file(world, audio):
    first = submit(world.a1.client(), audio, external_id="one").json()
    second = submit(world.a2.client(), audio, external_id="two").json()
    one, two = Clip.objects.get(pk=first["id"]), Clip.objects.get(pk=second["id"])
    assert one.audio.name == two.audio.name and one.audio.storage.exists(one.audio.name)


def test_the_upload_is_hashed_once_and_the_external_id_looked_up_once(world, audio, monkeypatch):
    import hashlib as real_hashlib

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from fingerprinting import services as fingerprinting_services
    from partner_api import apis

    digests_of_audio = []

    class Counting:
        def __init__(self, data=b""):
            self._hash, self._size = real_hashlib.sha256(data), len(data)

        def update(self, data):
            self._hash.update(data)
            self._size += len(data)

        def hexdigest(self):
            if self._size == len(audio):
                digests_of_audio.append(self._size)
            return self._hash.hexdigest()

        def digest(self):
            return self._hash.digest()

    counting = type("H", (), {"sha256": staticmethod(Counting)})
    monkeypatch.setattr(apis, "hashlib", counting)
    monkeypatch.setattr(fingerprinting_services, "hashlib", counting)
    with CaptureQueriesContext(connection) as queries:
        assert submit(world.a1.client(), audio).status_code == 202
    assert len(digests_of_audio) == 1
    lookups = [
        q["sql"] for q in queries if "external_id" in q["sql"] and q["sql"].lstrip().startswith("SELECT")
    ]
    assert len(lookups) == 1, lookups
