"""Spectral (`spectral:oas` plus the rules in .spectral.yaml) finds nothing in the live schema, warnings
included; and each of our rules fires on the mistake it is there for, so a rule that matches nothing
cannot pass for a clean schema."""

import copy
import json
import subprocess

import pytest
from rest_framework.test import APIClient

from tests.partner_api.contract_tools import ROOT, node_tool, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema() -> dict:
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def spectral(tmp_path, document: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(document))
    command = [node_tool("spectral"), "lint", "--ruleset", ROOT / ".spectral.yaml", "--fail-severity", "warn"]
    return subprocess.run(
        [str(part) for part in [*command, "--format", "json", path]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_schema_lints_clean(tmp_path, schema):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    run(
        [node_tool("spectral"), "lint", "--ruleset", ROOT / ".spectral.yaml", "--fail-severity", "warn", path]
    )


def _break_everything(schema: dict) -> dict:
    """One mistake per rule, each where a rule must see it."""
    broken = copy.deepcopy(schema)
    paths, components = broken["paths"], broken["components"]["schemas"]
    del paths["/api/v1/clips/{clip_id}"]["get"]["summary"]
    components["ClipSubmitRequest"]["properties"]["audio"]["format"] = "uri"
    components["ClipSubmitRequest"]["properties"]["generated_at"]["type"] = ["string", "null"]
    components["UsageLineRequest"]["properties"]["territory"]["default"] = ""
    del paths["/api/v1/settlements"]["get"]["responses"]["401"]
    not_ready = paths["/api/v1/clips/{clip_id}/attribution"]["get"]["responses"]["404"]
    not_ready["content"]["application/json"]["schema"] = {"type": "object"}
    del paths["/api/v1/webhooks"]["get"]["responses"]["200"]["headers"]["X-Request-ID"]
    del paths["/api/v1/usage"]["post"]["responses"]["429"]["headers"]["Retry-After"]
    del broken["webhooks"]["clip.rejected"]["post"]["summary"]
    broken["webhooks"]["clip.attributed"]["post"]["parameters"][2]["name"] = "X-Signature"
    return broken


EXPECTED = {
    "stemma-operation-summary",
    "stemma-uploads-are-binary",
    "stemma-multipart-never-null",
    "stemma-request-fields-have-no-default",
    "stemma-auth-errors-declared",
    "stemma-error-envelope",
    "stemma-request-id-header",
    "stemma-retry-after-header",
    "stemma-webhook-summary",
    "stemma-webhooks-signed",
}


def test_each_of_our_rules_catches_its_mistake(tmp_path, schema):
    done = spectral(tmp_path, _break_everything(schema))
    assert done.returncode == 1, done.stderr
    found = {problem["code"] for problem in json.loads(done.stdout)}
    assert found >= EXPECTED, EXPECTED - found
    assert "oas3-valid-schema-example" in found  # spectral:oas: the default "" breaks its own pattern
