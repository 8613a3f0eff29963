"""Webhook delivery metrics for Prometheus (see config.metrics)."""

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily


class WebhookCollector:
    def describe(self):
        yield GaugeMetricFamily(
            "stemma_webhook_deliveries", "Webhook deliveries by status", labels=["status"]
        )
        yield GaugeMetricFamily("stemma_webhook_retrying", "Pending deliveries waiting for a retry")

    def collect(self):
        from partner_api.models import DeliveryStatus, WebhookDelivery

        gauge = GaugeMetricFamily(
            "stemma_webhook_deliveries", "Webhook deliveries by status (failed: gave up)", labels=["status"]
        )
        counts = dict(WebhookDelivery.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in DeliveryStatus.values:
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge
        retrying = GaugeMetricFamily(
            "stemma_webhook_retrying", "Pending deliveries that failed at least once and wait for a retry"
        )
        retrying.add_metric(
            [], WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, attempts__gt=0).count()
        )
        yield retrying
