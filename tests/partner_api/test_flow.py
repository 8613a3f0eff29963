"""The whole flow against the real engine: key, webhook, submit a clip, the engine attributes it, the
signed webhook arrives, the partner reads the attribution and reports usage on the clip."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from fingerprinting.tasks import clip_attribute_task
from partner_api.services import apikey_create
from royalties.models import UsageLine
from tests.fingerprinting.audio_helpers import wav_bytes
from tests.fingerprinting.conftest import SR, recording_audio
from tests.partner_api.test_webhooks import Receiver

pytestmark = [pytest.mark.django_db, pytest.mark.slow]  # indexing the catalog takes ~12 s


def test_submit_attribute_webhook_read_and_report(
    label, partner, catalog, indexed, django_capture_on_commit_callbacks
):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {apikey_create(label=label, partner=partner).raw_key}")
    receiver = Receiver()
    try:
        hook = client.post(
            "/api/v1/webhooks", {"url": receiver.url, "event_types": ["clip.attributed"]}, format="json"
        )
        receiver.secret = hook.json()["secret"]
        source = catalog[3]
        excerpt = wav_bytes(recording_audio(3)[int(7.0 * SR) : int(17.0 * SR)], SR)
        submitted = client.post(
            "/api/v1/clips",
            {
                "external_id": "flow-1",
                "audio": SimpleUploadedFile("x.wav", excerpt),
                "declared_references": [source.isrc],
            },
            format="multipart",
        )
        assert submitted.status_code == 202
        clip_id = submitted.json()["id"]

        with django_capture_on_commit_callbacks(execute=True):
            clip_attribute_task(clip_id)  # what the attribution worker runs for the queued clip

        assert client.get(f"/api/v1/clips/{clip_id}").json()["status"] == "attributed"
        assert [(r["valid"], r["event_type"]) for r in receiver.received] == [(True, "clip.attributed")]
        attribution = client.get(f"/api/v1/clips/{clip_id}/attribution").json()
        assert attribution["shares"][0]["recording"]["isrc"] == source.isrc
        assert receiver.received[0]["payload"]["data"]["attribution"] == attribution

        usage = client.post(
            "/api/v1/usage",
            {
                "currency": "EUR",
                "period_start": "2026-10-01",
                "period_end": "2026-10-31",
                "lines": [{"line_id": "F-1", "clip_id": clip_id, "usage_count": 100, "net_revenue": "2.50"}],
            },
            format="json",
        )
        assert usage.json()["accepted"] == 1
        assert UsageLine.objects.get().clip_id == clip_id
    finally:
        receiver.close()
