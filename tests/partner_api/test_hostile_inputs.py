"""Hostile inputs, as an attacker would send them, against the partner API and the web forms.

Every case must answer a 4xx (the API in its error envelope `{"error": {"code", ...}}`), never a 5xx,
and leave the database and the media folder exactly as they were. The corpus holds every input issue
13 found giving a 500, plus the neighbours tried while fixing them.
"""

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client

from catalog.models import Membership, Role
from tests.factories import LabelFactory, RecordingFactory, UserFactory
from tests.partner_api.conftest import make_attribution, make_clip, wav_bytes
from tests.royalties.factories import ClipFactory, attribute

pytestmark = pytest.mark.django_db

DEEP = 100_000  # the JSON body depth
# Rows that record an attempt by design (a failed sign-in is logged by django-axes) are not "changes".
ATTEMPT_TABLES = {"axes.accessattempt", "axes.accessfailurelog", "axes.accesslog", "sessions.session"}


def database_snapshot() -> dict[str, list]:
    """Every row of every table (small test databases), in primary-key order."""
    snapshot = {}
    for model in apps.get_models():
        if model._meta.label_lower in ATTEMPT_TABLES:
            continue
        snapshot[model._meta.label_lower] = list(model.objects.order_by("pk").values_list())
    return snapshot


def media_snapshot() -> set[str]:
    root = settings.MEDIA_ROOT
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: Any = None
    content_type: str = "application/json"
    multipart: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def extra_field(raw: str) -> dict[str, Any]:
    return {"external_id": "hostile-1", "extra": raw}


USAGE = {
    "currency": "EUR",
    "period_start": "2026-01-01",
    "period_end": "2026-01-31",
    "lines": [{"line_id": "L1", "external_id": "gen-1", "usage_count": 1, "net_revenue": "1.00"}],
}

API_CASES = [
    # --- the five 500s of issue 13
    Case("extra-nul", "POST", "/api/v1/clips", multipart=extra_field('{"a": "\\u0000"}')),
    Case("extra-nul-in-key", "POST", "/api/v1/clips", multipart=extra_field('{"\\u0000": 1}')),
    Case("extra-lone-surrogate", "POST", "/api/v1/clips", multipart=extra_field('{"a": "\\udc00"}')),
    Case("extra-3000-deep", "POST", "/api/v1/clips", multipart=extra_field('{"a": ' + nested(3000) + "}")),
    Case("extra-100-deep", "POST", "/api/v1/clips", multipart=extra_field('{"a": ' + nested(100) + "}")),
    Case("usage-100000-deep", "POST", "/api/v1/usage", body=nested(DEEP)),
    Case("webhooks-100000-deep", "POST", "/api/v1/webhooks", body=nested(DEEP)),
    Case("webhook-patch-100000-deep", "PATCH", "/api/v1/webhooks/{endpoint}", body=nested(DEEP)),
    Case(
        "webhook-port-99999",
        "POST",
        "/api/v1/webhooks",
        body=json.dumps({"url": "https://example.com:99999/h", "event_types": ["clip.attributed"]}),
    ),
    Case(
        "webhook-patch-port-99999",
        "PATCH",
        "/api/v1/webhooks/{endpoint}",
        body=json.dumps({"url": "https://example.com:99999/h"}),
    ),
    # --- neighbours
    Case("usage-object-100000-deep", "POST", "/api/v1/usage", body='{"a":' * 20_000 + "1" + "}" * 20_000),
    Case(
        "usage-nul-in-line-id",
        "POST",
        "/api/v1/usage",
        body=json.dumps({**USAGE, "lines": [{**USAGE["lines"][0], "line_id": "L\x00"}]}),
    ),
    Case(
        "usage-surrogate-in-line-id", "POST", "/api/v1/usage", body=json.dumps(USAGE).replace("L1", "\\udc00")
    ),
    Case("usage-nul-in-key", "POST", "/api/v1/usage", body=json.dumps({**USAGE, "\x00": 1})),
    Case("usage-huge-integer", "POST", "/api/v1/usage", body='{"lines": [' + "9" * 5000 + "]}"),
    Case("usage-nan", "POST", "/api/v1/usage", body=json.dumps(USAGE).replace('"1.00"', "NaN")),
    Case("usage-empty-lines", "POST", "/api/v1/usage", body=json.dumps({**USAGE, "lines": []})),
    Case("usage-currency-lowercase", "POST", "/api/v1/usage", body=json.dumps({**USAGE, "currency": "eur"})),
    Case("usage-not-utf8", "POST", "/api/v1/usage", body=b'{"currency": "\xff\xfe"}'),
    Case("usage-a-list", "POST", "/api/v1/usage", body="[]"),
    Case("usage-xml", "POST", "/api/v1/usage", body="<usage/>", content_type="application/xml"),
    Case(
        "webhook-port-0",
        "POST",
        "/api/v1/webhooks",
        body=json.dumps({"url": "https://example.com:0/h", "event_types": ["clip.attributed"]}),
    ),
    Case(
        "webhook-ipv6-garbage",
        "POST",
        "/api/v1/webhooks",
        body=json.dumps({"url": "https://[::1/h", "event_types": ["clip.attributed"]}),
    ),
    Case(
        "webhook-nul-description",
        "POST",
        "/api/v1/webhooks",
        body=json.dumps(
            {"url": "https://example.com/h", "event_types": ["clip.attributed"], "description": "a\x00"}
        ),
    ),
    Case(
        "webhook-no-event-types",
        "POST",
        "/api/v1/webhooks",
        body=json.dumps({"url": "https://example.com/h", "event_types": []}),
    ),
    Case("clip-list-nul-filter", "GET", "/api/v1/clips?external_id=a%00b"),
    Case("clip-list-empty-status", "GET", "/api/v1/clips?status="),
    Case("clip-list-empty-external-id", "GET", "/api/v1/clips?external_id="),
    Case("clip-list-limit-zero", "GET", "/api/v1/clips?limit=0"),
    Case("clip-list-limit-huge", "GET", "/api/v1/clips?limit=" + "9" * 40),
    Case("clip-list-cursor-garbage", "GET", "/api/v1/clips?cursor=%00%ff"),
    Case("clip-list-date-far", "GET", "/api/v1/clips?created_after=99999-01-01T00:00:00Z"),
    Case("clip-id-beyond-bigint", "GET", "/api/v1/clips/" + "9" * 30),
    Case("report-id-beyond-bigint", "GET", "/api/v1/usage/reports/" + "9" * 30),
    Case("webhook-id-beyond-bigint", "PATCH", "/api/v1/webhooks/" + "9" * 30, body="{}"),
    Case("settlements-period-bad", "GET", "/api/v1/settlements?period=2026-13"),
    Case("settlements-period-empty", "GET", "/api/v1/settlements?period="),
    Case("clip-nul-external-id", "POST", "/api/v1/clips", multipart={"external_id": "a\x00b", "title": "t"}),
    Case(
        "clip-surrogate-bytes-in-title",  # CESU-8 bytes of U+DC00: not UTF-8
        "POST",
        "/api/v1/clips",
        multipart={"external_id": "hostile-2", "title": b"\xed\xb0\x80", "extra": '{"\\ud800x": 1}'},
    ),
    Case(
        "clip-nul-reference",
        "POST",
        "/api/v1/clips",
        multipart={"external_id": "hostile-3", "declared_references": "US\x00RC17607839"},
    ),
    Case(
        "clip-html-not-audio",
        "POST",
        "/api/v1/clips",
        multipart={"external_id": "hostile-4", "audio": ("x.html", b"<script>alert(1)</script>")},
    ),
    Case(
        "usage-report-nul",
        "POST",
        "/api/v1/usage/reports",
        multipart={"file": ("r.csv", b"HEAD,r1,2026-01-01,2026-01-31,EUR\nline_id\x00\n")},
    ),
    Case(
        "usage-report-huge-cell",
        "POST",
        "/api/v1/usage/reports",
        multipart={"file": ("r.csv", b'HEAD,r1,2026-01-01,2026-01-31,EUR\n"' + b"a" * 200_000 + b'"\n')},
    ),
    Case("idempotency-key-non-ascii", "POST", "/api/v1/usage", body="{}", headers={"Idempotency-Key": "é"}),
]


@pytest.fixture
def hostile_world(world):
    clip = make_clip(world.a1, external_id="gen-1")
    make_attribution(clip)
    from partner_api.services import webhook_endpoint_create

    endpoint = webhook_endpoint_create(
        partner=world.a1.partner,
        label=world.a1.label,
        url="https://example.com/h",
        event_types=["clip.attributed"],
    )
    client = world.a1.client()
    assert client.get("/api/v1/clips").status_code == 200  # the key's first use is recorded now
    return world, {"endpoint": endpoint.pk}


def _send(client, case: Case, ids: dict):
    path = case.path.format(**ids)
    headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in case.headers.items()}
    if case.multipart:
        fields = dict(case.multipart)
        name, data = fields.pop("audio", ("clip.wav", wav_bytes(4.0)))
        if "file" in fields:
            file_name, file_data = fields.pop("file")
            fields["file"] = io.BytesIO(file_data)
            fields["file"].name = file_name
        else:
            fields["audio"] = io.BytesIO(data)
            fields["audio"].name = name
        return client.generic(case.method, path, **_multipart(fields), **headers)
    body = case.body if case.body is not None else ""
    return client.generic(case.method, path, data=body, content_type=case.content_type, **headers)


def _multipart(fields: dict) -> dict:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    return {"data": encode_multipart(BOUNDARY, fields), "content_type": MULTIPART_CONTENT}


@pytest.mark.parametrize("case", API_CASES, ids=str)
def test_hostile_api_input_is_a_4xx_in_the_envelope_and_changes_nothing(hostile_world, case):
    world, ids = hostile_world
    client = world.a1.client()
    before_db, before_media = database_snapshot(), media_snapshot()
    response = _send(client, case, ids)
    if response.status_code < 400:  # a few neighbours are valid requests: they must not write anything
        assert case.method == "GET", (case.name, response.status_code, response.content[:300])
    else:
        assert 400 <= response.status_code < 500, (case.name, response.status_code, response.content[:300])
        body = response.json()
        assert set(body) == {"error"} and isinstance(body["error"]["code"], str), body
    assert database_snapshot() == before_db
    assert media_snapshot() == before_media


# ------------------------------------------------------------------------------------------ web forms


@pytest.fixture
def staff(db):
    label = LabelFactory(slug="aurora", name="Aurora Records")
    admin = UserFactory(username="ada")
    Membership.objects.create(user=admin, label=label, role=Role.ADMIN)
    recording = RecordingFactory(label=label)
    clip = ClipFactory(label=label)
    attribute(clip, {recording: "0.5"})
    client = Client()
    client.force_login(admin)
    return client, label, recording, clip


def web_cases(recording_pk: int, clip_pk: int) -> list[tuple[str, str, dict]]:
    nul = "a\x00b"
    review = f"/clips/{clip_pk}/review/"
    return [
        ("review-nan-share", review, {"action": "adjust", f"share_{recording_pk}": "NaN", "reason": "x"}),
        (
            "review-huge-share",
            review,
            {"action": "adjust", f"share_{recording_pk}": "1e999999", "reason": "x"},
        ),
        ("review-nul-isrc", review, {"action": "adjust", "new_isrc": nul, "new_share": "0.1", "reason": "x"}),
        ("review-nul-reason", review, {"action": "dispute", "reason": nul}),
        ("review-unknown-action", review, {"action": nul, "reason": "x"}),
        ("login-nul", "/accounts/login/", {"username": nul, "password": nul}),
        ("admin-login-nul", "/admin/login/", {"username": nul, "password": nul}),
        ("switch-label-garbage", "/catalog/switch-label/", {"label": "9" * 30}),
        ("switch-label-nul", "/catalog/switch-label/", {"label": nul}),
        (
            "split-nul-and-nan",
            f"/catalog/recordings/{recording_pk}/splits/",
            {"right_type": "master", "effective_from": "2026-01-01", "party_0": nul, "share_0": "NaN"},
        ),
        (
            "split-huge-share",
            f"/catalog/recordings/{recording_pk}/splits/",
            {"right_type": "master", "effective_from": "2026-01-01", "party_0": "Ann", "share_0": "1e999999"},
        ),
        (
            "split-date-garbage",
            f"/catalog/recordings/{recording_pk}/splits/",
            {"right_type": "master", "effective_from": "99999-99-99", "party_0": "Ann", "share_0": "1"},
        ),
        ("import-not-utf8", "/catalog/imports/", {"csv_file": ("c.csv", b"\xff\xfe\x00isrc")}),
        ("import-nul", "/catalog/imports/", {"csv_file": ("c.csv", b"isrc,title\nA\x00,B\n")}),
        (
            "audio-upload-html",
            f"/catalog/recordings/{recording_pk}/audio/",
            {"audio": ("x.html", b"<script>alert(1)</script>")},
        ),
        ("payout-new-garbage", "/royalties/payouts/new/", {"period": nul, "currency": b"\xed\xb0\x80"}),
        ("apikey-new-nul", "/partners/keys/new/", {"partner": nul, "name": nul}),
        ("clip-review-missing", "/clips/" + "9" * 30 + "/review/", {"action": "adjust"}),
        ("period-close-missing", "/royalties/periods/" + "9" * 30 + "/close/", {}),
        ("recording-search-nul", "/catalog/recordings/?q=a%00b", {}),
        ("audit-filter-nul", "/catalog/audit/?actor=a%00b&action=a%00b", {}),
        ("clip-list-filter-nul", "/clips/?partner=a%00b&q=a%00b", {}),
    ]


def test_hostile_web_form_input_is_never_a_500_and_changes_nothing(staff):
    client, label, recording, clip = staff
    client.raise_request_exception = False
    failures = []
    for name, path, data in web_cases(recording.pk, clip.pk):
        before_db, before_media = database_snapshot(), media_snapshot()
        fields = {}
        for key, value in data.items():
            if isinstance(value, tuple):
                upload = io.BytesIO(value[1])
                upload.name = value[0]
                fields[key] = upload
            else:
                fields[key] = value
        response = client.get(path) if "?" in path and not fields else client.post(path, fields)
        if response.status_code >= 500:
            failures.append((name, response.status_code))
        if database_snapshot() != before_db:
            failures.append((name, "database changed"))
        if media_snapshot() != before_media:
            failures.append((name, "media changed"))
    assert not failures
