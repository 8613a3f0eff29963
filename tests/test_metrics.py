import pytest

from tests.factories import LabelFactory, PartnerFactory, RecordingFactory
from tests.royalties.factories import ClipFactory, attribute

pytestmark = pytest.mark.django_db


def test_metrics_expose_clips_latency_webhooks_closes_and_queues(client, settings):
    settings.METRICS_TOKEN = "scrape"
    label = LabelFactory()
    clip = ClipFactory(label=label, partner=PartnerFactory())
    attribute(clip, {RecordingFactory(label=label): "1"})
    ClipFactory(label=label, partner=clip.partner, status="queued")
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape").content.decode()
    assert 'stemma_clips_total{status="attributed"} 1.0' in body
    assert 'stemma_clips_total{status="queued"} 1.0' in body
    assert "stemma_attribution_latency_seconds_count 1.0" in body
    assert 'stemma_webhook_deliveries{status="failed"} 0.0' in body
    assert "stemma_period_close_seconds" in body
    assert "stemma_queue_depth" in body
