"""The OpenAPI schema documents every partner operation with the Bearer scheme; the docs pages work
without internet access (drf-spectacular-sidecar serves Swagger UI and Redoc)."""

import re

import pytest
import yaml
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/clips", "get"),
    ("/api/v1/clips", "post"),
    ("/api/v1/clips/{clip_id}", "get"),
    ("/api/v1/clips/{clip_id}/attribution", "get"),
    ("/api/v1/clips/{clip_id}/attributions", "get"),
    ("/api/v1/usage", "post"),
    ("/api/v1/usage/reports", "post"),
    ("/api/v1/usage/reports/{report_id}", "get"),
    ("/api/v1/settlements", "get"),
    ("/api/v1/webhooks", "get"),
    ("/api/v1/webhooks", "post"),
    ("/api/v1/webhooks/{endpoint_id}", "get"),
    ("/api/v1/webhooks/{endpoint_id}", "patch"),
    ("/api/v1/webhooks/{endpoint_id}", "delete"),
    ("/api/v1/webhooks/{endpoint_id}/deliveries", "get"),
    ("/api/v1/training-manifest", "get"),
    ("/api/v1/consent", "get"),
}
# Signed links: the signature in the URL is the credential, so no Bearer key is asked for.
UNAUTHENTICATED_OPERATIONS = {("/api/v1/training-manifest/{manifest_id}/recordings/{isrc}/audio", "get")}


def test_schema_lists_every_operation_with_bearer_auth_and_error_answers():
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    found = {
        (path, method)
        for path, item in schema["paths"].items()
        for method in item
        if path.startswith("/api/v1/")
    }
    assert found == OPERATIONS | UNAUTHENTICATED_OPERATIONS
    for path, method in UNAUTHENTICATED_OPERATIONS:
        assert schema["paths"][path][method].get("security", []) in ([], [{}]), (path, method)
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer stm_...`",
    }
    for path, method in OPERATIONS:
        operation = schema["paths"][path][method]
        assert operation["security"] == [{"ApiKey": []}], (path, method)
        error = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}, (path, method)
    clip_post = schema["paths"]["/api/v1/clips"]["post"]
    assert {"202", "200", "409", "413", "415", "422"} <= set(clip_post["responses"])
    assert "multipart/form-data" in clip_post["requestBody"]["content"]
    assert any(p["name"] == "Idempotency-Key" for p in clip_post["parameters"])


@pytest.mark.parametrize(
    ("url", "pattern"), [("/api/docs/", r'(?:src|href)="([^"]+)"'), ("/api/redoc/", r'src="([^"]+)"')]
)
def test_docs_pages_load_their_code_locally(url, pattern):
    # Redoc's stock template also links Google Fonts: cosmetic (system fonts offline); see the closing note.
    response = APIClient().get(url)
    assert response.status_code == 200
    sources = re.findall(pattern, response.content.decode())
    assert sources and all(not s.startswith(("http://", "https://", "//")) for s in sources), sources


def test_every_operation_is_described_for_partners_not_for_us(settings):
    """A summary and a description of its own per operation (no class docstring leaking into all of
    them), tags that are declared, servers naming the host the schema was fetched from, and no
    component described by an implementation note."""
    settings.ALLOWED_HOSTS = ["stemma.example.org"]
    schema = yaml.safe_load(APIClient().get("/api/schema/", HTTP_HOST="stemma.example.org").content)
    operations = [schema["paths"][path][method] for path, method in OPERATIONS]
    descriptions = [operation["description"] for operation in operations]
    assert all(operation["summary"] for operation in operations)
    assert len(set(descriptions)) == len(descriptions)
    declared = {tag["name"] for tag in schema["tags"]}
    assert declared == {"clips", "usage", "settlements", "webhooks", "training"}
    assert all(set(operation["tags"]) <= declared for operation in operations)
    assert schema["servers"] == [{"url": "http://stemma.example.org", "description": "This Stemma instance."}]
    assert schema["info"]["contact"]["url"] == "http://stemma.example.org/api/docs/"
    texts = [*descriptions, *(c.get("description", "") for c in schema["components"]["schemas"].values())]
    for word in ("config.", "drf", "to_representation", "poll of GET", "swagger"):
        assert not any(word in text for text in texts), word


def test_uploads_defaults_nulls_headers_and_webhooks():
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    assert schema["openapi"].startswith("3.1")
    components = schema["components"]["schemas"]
    assert components["ClipSubmitRequest"]["properties"]["audio"]["format"] == "binary"
    assert components["UsageReportUploadRequest"]["properties"]["file"]["format"] == "binary"
    for name, component in components.items():
        if name.endswith("Request"):  # absent is absent: no request field publishes a default
            assert not [f for f, prop in component["properties"].items() if "default" in prop], name
    assert components["ClipSubmitRequest"]["properties"]["generated_at"]["type"] == "string"  # no null
    submit = schema["paths"]["/api/v1/clips"]["post"]["responses"]
    assert set(submit["202"]["headers"]) == {"X-Request-ID", "Idempotent-Replayed", "Location"}
    assert set(submit["429"]["headers"]) == {"X-Request-ID", "Retry-After"}
    assert set(schema["webhooks"]) == {
        "clip.attributed",
        "clip.rejected",
        "attribution.revised",
        "attribution.unlicensed_use",
        "usage_report.processed",
    }
    body = schema["webhooks"]["clip.attributed"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/ClipAttributedEvent"}
    codes = [
        e["value"]["error"]["code"] for e in submit["409"]["content"]["application/json"]["examples"].values()
    ]
    assert codes == ["idempotency_conflict", "external_id_conflict"]


def test_drf_spectacular_generates_it_without_a_warning_and_validates_it(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert yaml.safe_load((tmp_path / "schema.yaml").read_text())["openapi"] == "3.1.0"
