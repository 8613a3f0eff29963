"""Clients generated from the live schema by tools nobody here wrote, used as a partner would.

- Python: openapi-python-client generates a package from /api/schema/ of a live server, and the quick
  start in docs/api.md runs with it, block by block as written there (only its three configuration
  values are replaced): webhook, clip, polling, attribution, usage as JSON and as a CSV file,
  settlements after the label closes the month, the webhook's delivery log, pause and delete, and the
  receiver's signature check. The attribution engine is stood in for by a function that writes what the
  worker writes (an attribution version, the `clip.attributed` event); the engine has its own tests.
- TypeScript: openapi-typescript's types of the schema, and `tsc --strict` on tools/node/contract.
"""

import base64
import json
import re
import shutil
import sys
import threading
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.db import transaction
from rest_framework.test import APIClient

from fingerprinting import events
from fingerprinting.models import Clip, ClipStatus
from partner_api.serializers import money_text
from royalties.models import PartnerSettlement, UsageLine
from royalties.services import period_close
from tests.factories import PartyFactory, RecordingFactory, split_for
from tests.partner_api.conftest import wav_bytes
from tests.partner_api.contract_tools import ROOT, node_tool, python_client_generator, run
from tests.royalties.factories import attribute, deal

DOCS = ROOT / "docs" / "api.md"
QUICK_START = "## Quick start: a Python client generated from the schema"
USAGE_CSV = """HEAD,RPT-2026-10,2026-10-01,2026-10-31,EUR
line_id,clip_id,external_id,usage_count,net_revenue,territory,usage_date
L-0002,,gen-8841,30,0.360000,,2026-10-20
L-0003,,gen-0000,5,0.050000,FR,
"""


def quick_start_blocks() -> list[str]:
    section = DOCS.read_text().split(QUICK_START, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert [block.split(".", 1)[0] for block in blocks] == [f"# {n}" for n in range(len(blocks))]
    return blocks


def configured(block: str, **values: str) -> str:
    """The block with its configuration constants (`NAME = "..."`) set to this test's values."""
    for name, value in values.items():
        block, count = re.subn(rf'^{name} = "[^"]*"', f"{name} = {value!r}", block, flags=re.M)
        assert count == 1, name
    return block


class Receiver:
    """A partner's webhook endpoint: keeps each delivery's raw body and headers as they arrived."""

    def __init__(self):
        self.deliveries: list[tuple[list[tuple[str, str]], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append((list(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stemma"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def stemma_client(live_server, tmp_path):
    """The package openapi-python-client generates from the live schema, importable as stemma_client."""
    schema = tmp_path / "schema.json"
    schema.write_bytes(requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30).content)
    generated = run(
        [
            python_client_generator(),
            "generate",
            "--path",
            schema,
            "--meta",
            "none",
            "--output-path",
            tmp_path / "stemma_client",
            "--config",
            ROOT / "tools" / "openapi-python-client.yaml",
        ]
    )
    assert "warning" not in (generated.stdout + generated.stderr).lower(), generated.stdout + generated.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == "stemma_client"]:
            del sys.modules[name]


@pytest.mark.django_db(transaction=True)
def test_the_quick_start_runs_with_the_generated_python_client(
    world, live_server, stemma_client, receiver, monkeypatch
):
    cell = world.a1
    recording = RecordingFactory(label=cell.label, isrc="USRC17607839")
    split_for(recording, {PartyFactory(label=cell.label): "1"})
    deal(cell.label, cell.partner, rate="0.5")

    def attribution_worker(clip_id: int, *args, **kwargs) -> None:
        """What the attribution worker writes for a queued clip (fingerprinting.services.clip_attribute)."""
        with transaction.atomic():
            clip = Clip.objects.get(pk=clip_id)
            attribution = attribute(clip, {recording: "0.600000"})
            Clip.objects.filter(pk=clip_id).update(status=ClipStatus.ATTRIBUTED)
            events.publish(events.CLIP_ATTRIBUTED, clip=clip, attribution=attribution)

    from fingerprinting import tasks

    monkeypatch.setattr(tasks.clip_attribute_task, "delay", attribution_worker)
    monkeypatch.chdir(stemma_client)
    (stemma_client / "clip.wav").write_bytes(wav_bytes())
    (stemma_client / "usage-2026-10.csv").write_text(USAGE_CSV)

    blocks = quick_start_blocks()
    blocks[0] = configured(blocks[0], STEMMA=live_server.url, API_KEY=cell.raw_key, WEBHOOK_URL=receiver.url)
    docs: dict = {}
    try:
        for number, block in enumerate(blocks):
            if block.startswith("# 5."):  # the label closes October before the partner reads settlements
                period_close(label=cell.label, period="2026-10")
            exec(compile(block, f"{DOCS} (quick start block {number})", "exec"), docs)  # noqa: S102
    finally:
        if "api" in docs:  # its keep-alive connections, before the live server goes
            docs["api"].get_httpx_client().close()

    # 1: the secret in the documented format.
    secret = docs["webhook_secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) == 32
    # 2, 3: the clip, polled to attributed, and its attribution.
    assert docs["clip"].status == "attributed" and docs["clip"].external_id == "gen-8841"
    stored = Clip.objects.get(pk=docs["clip"].id)  # the multipart form as the client sent it
    assert (stored.title, stored.declared_references) == ("Night drive", ["USRC17607839"])
    assert stored.extra == {"prompt": "lofi night drive"} and stored.generated_at is None
    assert [(s.recording.isrc, s.share) for s in docs["attribution"].shares] == [(recording.isrc, "0.600000")]
    assert Decimal(docs["attribution"].unattributed) == Decimal("0.4")
    # 4: the JSON line with a territory, the CSV line without one (absent, as in JSON), the unknown clip.
    assert (docs["outcome"].accepted, docs["outcome"].rejected) == (1, [])
    report = docs["report"]
    assert (report.status, report.accepted_count, report.rejected_count) == ("processed", 1, 1)
    assert [(line.line, line.code) for line in report.rejected_lines] == [(4, "clip_unknown")]
    assert dict(UsageLine.objects.values_list("partner_line_id", "territory")) == {
        "L-0001": "DE",
        "L-0002": "",
    }
    # 5: what is owed, at the euro's minor unit, as the ledger booked it.
    (settlement,) = docs["settlements"]
    booked = PartnerSettlement.objects.get()
    assert (settlement.period, settlement.currency, settlement.revenue) == ("2026-10", "EUR", "14.76")
    assert settlement.amount_due == money_text(booked.amount_due, "EUR") == "7.38"
    assert [(d.revenue, d.pool) for d in settlement.detail] == [("14.76", "7.38")]
    # 6: the delivery log, then pause and delete.
    assert [(d.event_type, d.status, d.attempts) for d in docs["deliveries"]] == [
        ("clip.attributed", "succeeded", 1)
    ]
    assert docs["paused"].is_active is False and docs["deleted"].status_code == 204
    # 7: the receiver's check, whatever letter case the framework hands the headers over in.
    verify = docs["verify_webhook"]
    ((headers, body),) = receiver.deliveries
    event = json.loads(body)
    assert event["type"] == "clip.attributed" and event["data"]["clip"]["id"] == docs["clip"].id
    for spelled in (str, str.lower, str.title, str.upper):
        assert verify({spelled(name): value for name, value in headers}, body, secret) == event
    assert verify(dict(headers), body.replace(b"0.600000", b"0.900000"), secret) is None
    assert verify(dict(headers), body, "whsec_" + base64.b64encode(b"x" * 32).decode()) is None


@pytest.mark.django_db(transaction=True)
def test_the_generated_client_reads_errors_headers_and_leaves_optional_fields_out(
    world, live_server, stemma_client
):
    """What the quick start does not show: a replay's header, the error envelope as a model, a clip with
    only its required fields, a line without a territory, and a date that round-trips."""
    from stemma_client import AuthenticatedClient

    with AuthenticatedClient(base_url=live_server.url, token=world.a1.raw_key) as api:
        _errors_headers_and_optional_fields(api, wav_bytes())


def _errors_headers_and_optional_fields(api, audio: bytes) -> None:
    from stemma_client.api.clips import clips_attribution_current, clips_retrieve, clips_submit
    from stemma_client.api.usage import usage_report_batch
    from stemma_client.models import ClipSubmitRequest, Error, UsageBatchRequest, UsageLineRequest
    from stemma_client.types import File

    def submit(**fields):
        body = ClipSubmitRequest(audio=File(payload=audio, file_name="a.wav"), **fields)
        return clips_submit.sync_detailed(client=api, body=body, idempotency_key=fields["external_id"])

    bare = submit(external_id="bare-1")
    assert bare.status_code == 202 and "Idempotent-Replayed" not in bare.headers
    stored = Clip.objects.get(pk=bare.parsed.id)
    assert (stored.title, stored.generated_at, stored.declared_references, stored.extra) == ("", None, [], {})
    replay = submit(external_id="bare-1")
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    assert (
        replay.parsed.id == bare.parsed.id and replay.headers["Location"] == f"/api/v1/clips/{bare.parsed.id}"
    )

    when = datetime.fromisoformat("2026-10-12T08:30:00+00:00")
    dated = submit(external_id="dated-1", generated_at=when).parsed
    assert clips_retrieve.sync(client=api, clip_id=dated.id).generated_at == when

    not_ready = clips_attribution_current.sync_detailed(client=api, clip_id=dated.id)
    assert not_ready.status_code == 404 and isinstance(not_ready.parsed, Error)
    assert not_ready.parsed.error.code == "attribution_not_ready" and not_ready.headers["X-Request-ID"]

    line = UsageLineRequest(line_id="N-1", clip_id=dated.id, usage_count=1, net_revenue="0.10")
    batch = UsageBatchRequest(
        currency="EUR", period_start=when.date().replace(day=1), period_end=when.date(), lines=[line]
    )
    assert usage_report_batch.sync(client=api, body=batch).accepted == 1
    assert UsageLine.objects.get().territory == ""


@pytest.mark.django_db
def test_typescript_written_against_openapi_typescript_output_compiles_strictly(tmp_path):
    generate = ROOT / "tools" / "node" / "generate-types.mjs"
    tsc = node_tool("tsc")
    node = shutil.which("node")
    assert node, "node is needed with tools/node installed"
    schema = tmp_path / "schema.json"
    schema.write_bytes(APIClient().get("/api/schema/", {"format": "json"}).content)
    for name in ("partner.ts", "tsconfig.json"):
        shutil.copy(ROOT / "tools" / "node" / "contract" / name, tmp_path / name)
    run([node, generate, schema, tmp_path / "schema.ts"], cwd=ROOT / "tools" / "node")
    run([tsc, "--project", tmp_path / "tsconfig.json"])
