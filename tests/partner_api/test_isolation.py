"""Two partners x two labels: a key sees its own (partner, label) cell only; all else is 404.

Aurora Records (label A) and Boreal Music (label B) both license TuneGen (partner 1) and SongSmith
(partner 2). Everything below is made with TuneGen's Aurora key (a1); the three other keys must get
404 for each object and empty lists, never a byte of a1's data.
"""

from datetime import date

import pytest

from partner_api.models import UsageReport, WebhookDelivery, WebhookEndpoint
from royalties.models import UsageLine
from tests.partner_api.conftest import make_attribution, make_clip, make_settlement

pytestmark = pytest.mark.django_db


@pytest.fixture
def a1_data(world):
    clip = make_clip(world.a1, external_id="secret-clip", title="a1 only")
    make_attribution(clip)
    endpoint = WebhookEndpoint.objects.create(
        partner=world.a1.partner,
        label=world.a1.label,
        url="https://a1.example.com/hook",
        secret="whsec_a1",
        event_types=["clip.attributed"],
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint, event_id="evt_1", event_type="clip.attributed", payload={"a1": True}
    )
    report = UsageReport.objects.create(
        partner=world.a1.partner,
        label=world.a1.label,
        report_ref="a1-report",
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        currency="EUR",
        file="usage_reports/a1.csv",
    )
    make_settlement(world.a1, date(2026, 9, 1), "50.0000")
    return {"clip": clip.pk, "endpoint": endpoint.pk, "report": report.pk}


def object_urls(ids) -> list[str]:
    return [
        f"/api/v1/clips/{ids['clip']}",
        f"/api/v1/clips/{ids['clip']}/attribution",
        f"/api/v1/clips/{ids['clip']}/attributions",
        f"/api/v1/webhooks/{ids['endpoint']}",
        f"/api/v1/webhooks/{ids['endpoint']}/deliveries",
        f"/api/v1/usage/reports/{ids['report']}",
    ]


def test_the_owner_sees_everything(world, a1_data):
    client = world.a1.client()
    for url in object_urls(a1_data):
        assert client.get(url).status_code == 200, url
    assert len(client.get("/api/v1/clips").json()["results"]) == 1
    assert len(client.get("/api/v1/webhooks").json()["results"]) == 1
    assert len(client.get("/api/v1/settlements").json()["results"]) == 1


@pytest.mark.parametrize("who", ["a2", "b1", "b2"])
def test_other_keys_get_404_and_empty_lists(world, a1_data, who):
    client = getattr(world, who).client()
    for url in object_urls(a1_data):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
        assert "a1" not in response.content.decode().replace("a1.example", "")
    assert client.get("/api/v1/clips").json()["results"] == []
    assert client.get("/api/v1/clips", {"external_id": "secret-clip"}).json()["results"] == []
    assert client.get("/api/v1/webhooks").json()["results"] == []
    assert client.get("/api/v1/settlements").json()["results"] == []


@pytest.mark.parametrize("who", ["a2", "b1", "b2"])
def test_other_keys_cannot_report_usage_on_the_clip(world, a1_data, who):
    body = {
        "currency": "EUR",
        "period_start": "2026-10-01",
        "period_end": "2026-10-31",
        "lines": [{"line_id": "x", "clip_id": a1_data["clip"], "usage_count": 1, "net_revenue": "1"}],
    }
    response = getattr(world, who).client().post("/api/v1/usage", body, format="json")
    assert response.json()["rejected"][0]["code"] == "clip_unknown"
    assert not UsageLine.objects.exists()


@pytest.mark.parametrize("who", ["a2", "b1", "b2"])
def test_other_keys_cannot_change_or_delete(world, a1_data, who):
    client = getattr(world, who).client()
    url = f"/api/v1/webhooks/{a1_data['endpoint']}"
    assert client.patch(url, {"url": "https://evil.example.com/"}, format="json").status_code == 404
    assert client.delete(url).status_code == 404
    endpoint = WebhookEndpoint.objects.get(pk=a1_data["endpoint"])
    assert endpoint.url == "https://a1.example.com/hook"


def test_an_external_id_is_a_partners_own_namespace(world, a1_data, audio):
    from django.core.files.uploadedfile import SimpleUploadedFile

    def submit(cell):
        upload = SimpleUploadedFile("c.wav", audio)
        return cell.client().post(
            "/api/v1/clips", {"external_id": "secret-clip", "audio": upload}, format="multipart"
        )

    assert submit(world.a2).status_code == 202  # another partner: its own external ids
    conflict = submit(world.b1)  # the same partner under another label's key
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "external_id_conflict"
    assert str(a1_data["clip"]) not in conflict.content.decode()
