"""Every error code the API answers is in docs/api.md, with its HTTP status, and nothing else is.

Three views of one list (partner_api.errors.API_ERROR_CODES): docs/api.md's table must equal it; the API
must really answer each code (one request per code below, with the documented status and envelope); and
the code must raise no other (a scan of partner_api and config.errors for the codes they can set).
"""

import ast
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from config.errors import _DRF_CODES
from partner_api.errors import API_ERROR_CODES, NOT_API_ERROR_CODES
from partner_api.services import USAGE_REASONS
from tests.partner_api.conftest import make_clip, wav_bytes

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "api.md").read_text()

pytestmark = pytest.mark.django_db


def documented_codes() -> dict[str, int]:
    table = DOCS.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d{3}) \| (.+?) \|", table, re.M)
    codes: dict[str, int] = {}
    for status, cell in rows:
        for code in re.findall(r"`([a-z_]+)`", cell):
            assert code not in codes, f"{code} is listed twice"
            codes[code] = int(status)
    return codes


def test_the_docs_table_is_the_code_list():
    assert documented_codes() == {code: api.status for code, api in API_ERROR_CODES.items()}


def test_the_docs_list_every_per_line_usage_reason():
    paragraph = DOCS.split("Per-line usage reasons", 1)[1].split("\n\n", 1)[0].split(":", 1)[1]
    assert set(re.findall(r"`([a-z_]+)`", paragraph)) == set(USAGE_REASONS)


def _codes_set_in(path: Path) -> set[str]:
    """Codes a module can give an error: `code = "x"` in a class, `code="x"` in a call, error_body("x")."""
    codes = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                if (
                    isinstance(statement, ast.Assign)
                    and [getattr(t, "id", None) for t in statement.targets] == ["code"]
                    and isinstance(statement.value, ast.Constant)
                ):
                    codes.add(statement.value.value)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                    codes.add(keyword.value.value)
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name == "error_body" and node.args and isinstance(node.args[0], ast.Constant):
                codes.add(node.args[0].value)
    return codes


def test_the_api_code_sets_no_undocumented_code():
    modules = [*sorted((ROOT / "partner_api").rglob("*.py")), ROOT / "config" / "errors.py"]
    found = set().union(*(_codes_set_in(path) for path in modules if "migrations" not in path.parts))
    found |= set(_DRF_CODES.values())
    known = set(API_ERROR_CODES) | set(NOT_API_ERROR_CODES) | set(USAGE_REASONS)
    assert found - known == set()
    assert {"invalid_cursor", "usage_report_invalid", "not_acceptable", "throttled"} <= found  # it scans


# ------------------------------------------------------------------------ the API answers each code


def multipart(client, path, **fields):
    return client.post(path, fields, format="multipart")


def usage_batch(**changes) -> dict:
    return {
        "currency": "EUR",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "lines": [{"line_id": "L-1", "external_id": "x", "usage_count": 1, "net_revenue": "1"}],
        **changes,
    }


def report(ref: str, line: str = "L-1,,x,1,1.0,,") -> SimpleUploadedFile:
    text = f"HEAD,{ref},2026-10-01,2026-10-31,EUR\nline_id,clip_id,external_id,usage_count,net_revenue,territory,usage_date\n{line}\n"
    return SimpleUploadedFile("r.csv", text.encode())


def _twice(first, second):
    first()
    return second()


def _manifest_download_url(w) -> str:
    from urllib.parse import urlsplit

    from tests.partner_api.test_training_manifest import with_audio
    from tests.royalties.factories import deal

    deal(w.a1.label, w.a1.partner)
    recording = with_audio(w.a1.label, 1)
    url = w.a1.client().get("/api/v1/training-manifest").json()["results"][0]["download_url"]
    return recording, f"{urlsplit(url).path}?{urlsplit(url).query}"


def _expired_download(w, s):
    import time

    from django.core import signing

    _, url = _manifest_download_url(w)
    later = time.time() + s.TRAINING_DOWNLOAD_URL_SECONDS + 1
    original, signing.time.time = signing.time.time, lambda: later
    try:
        return APIClient().get(url)
    finally:
        signing.time.time = original


def _withdrawn_download(w):
    from datetime import date

    from catalog.consent import consent_set

    recording, url = _manifest_download_url(w)
    consent_set(
        label=w.a1.label,
        recording=recording,
        use="training",
        state="opt_out",
        effective_from=date(2020, 1, 1),
    )
    return APIClient().get(url)


TRIGGERS = {
    "invalid": lambda c, w, s: multipart(c, "/api/v1/clips", audio=SimpleUploadedFile("a.wav", wav_bytes())),
    "parse_error": lambda c, w, s: c.post("/api/v1/usage", "{not json", content_type="application/json"),
    "invalid_cursor": lambda c, w, s: c.get("/api/v1/clips", {"cursor": "zzz"}),
    "invalid_limit": lambda c, w, s: c.get("/api/v1/clips", {"limit": "0"}),
    "invalid_period": lambda c, w, s: c.get("/api/v1/settlements", {"period": "2026-13"}),
    "idempotency_key_invalid": lambda c, w, s: c.post(
        "/api/v1/usage", usage_batch(), format="json", HTTP_IDEMPOTENCY_KEY="k" * 300
    ),
    "usage_report_invalid": lambda c, w, s: multipart(
        c, "/api/v1/usage/reports", file=SimpleUploadedFile("r.csv", b"not a report\n")
    ),
    "webhook_url_invalid": lambda c, w, s: c.post(
        "/api/v1/webhooks",
        {"url": "ftp://hooks.example.org/x", "event_types": ["clip.attributed"]},
        format="json",
    ),
    "not_authenticated": lambda c, w, s: APIClient().get("/api/v1/clips"),
    "authentication_failed": lambda c, w, s: APIClient().get(
        "/api/v1/clips", HTTP_AUTHORIZATION="Bearer stm_00000000_unknown"
    ),
    "not_found": lambda c, w, s: c.get("/api/v1/clips/999999"),
    "download_link_invalid": lambda c, w, s: c.get(
        "/api/v1/training-manifest/1/recordings/QZS7M2600001/audio?token=x"
    ),
    "download_link_expired": lambda c, w, s: _expired_download(w, s),
    "recording_withdrawn": lambda c, w, s: _withdrawn_download(w),
    "attribution_not_ready": lambda c, w, s: c.get(f"/api/v1/clips/{make_clip(w.a1).pk}/attribution"),
    "method_not_allowed": lambda c, w, s: c.put("/api/v1/clips", {}, format="json"),
    "not_acceptable": lambda c, w, s: c.get("/api/v1/clips", HTTP_ACCEPT="application/xml"),
    "idempotency_conflict": lambda c, w, s: _twice(
        lambda: c.post("/api/v1/usage", usage_batch(), format="json", HTTP_IDEMPOTENCY_KEY="k1"),
        lambda: c.post(
            "/api/v1/usage", usage_batch(currency="USD"), format="json", HTTP_IDEMPOTENCY_KEY="k1"
        ),
    ),
    "external_id_conflict": lambda c, w, s: _twice(
        lambda: multipart(
            c, "/api/v1/clips", external_id="e1", audio=SimpleUploadedFile("a.wav", wav_bytes())
        ),
        lambda: multipart(
            c, "/api/v1/clips", external_id="e1", audio=SimpleUploadedFile("b.wav", wav_bytes(seed=8))
        ),
    ),
    "usage_report_conflict": lambda c, w, s: _twice(
        lambda: multipart(c, "/api/v1/usage/reports", file=report("R-1")),
        lambda: multipart(c, "/api/v1/usage/reports", file=report("R-1", "L-2,,y,1,1.0,,")),
    ),
    "payload_too_large": lambda c, w, s: (
        setattr(s, "DATA_UPLOAD_MAX_MEMORY_SIZE", 2048),
        c.post("/api/v1/usage", json.dumps(usage_batch(pad="x" * 4096)), content_type="application/json"),
    )[1],
    "audio_too_large": lambda c, w, s: (
        setattr(s, "MAX_AUDIO_UPLOAD_BYTES", 64 * 1024),
        multipart(c, "/api/v1/clips", external_id="big", audio=SimpleUploadedFile("a.wav", wav_bytes(3.0))),
    )[1],
    "usage_batch_too_large": lambda c, w, s: c.post(
        "/api/v1/usage", usage_batch(lines=[{}] * 10_001), format="json"
    ),
    "unsupported_media_type": lambda c, w, s: multipart(c, "/api/v1/usage", currency="EUR"),
    "unsupported_audio": lambda c, w, s: multipart(
        c, "/api/v1/clips", external_id="t", audio=SimpleUploadedFile("a.wav", b"just text, not audio\n" * 20)
    ),
    "undecodable_audio": lambda c, w, s: multipart(
        c, "/api/v1/clips", external_id="u", audio=SimpleUploadedFile("a.wav", wav_bytes()[:-4000])
    ),
    "throttled": lambda c, w, s: (
        setattr(s, "REST_FRAMEWORK", {**s.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"partner": "1/min"}}),
        _twice(lambda: c.get("/api/v1/clips"), lambda: c.get("/api/v1/clips")),
    )[1],
}


def test_every_documented_code_has_a_request_that_makes_the_api_answer_it():
    assert set(TRIGGERS) == set(API_ERROR_CODES)


@pytest.mark.parametrize("code", list(API_ERROR_CODES))
def test_the_api_answers_the_code(world, settings, code):
    response = TRIGGERS[code](world.a1.client(), world, settings)
    assert response.status_code == API_ERROR_CODES[code].status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    if code == "throttled":
        assert int(response["Retry-After"]) > 0
