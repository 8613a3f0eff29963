"""Close metrics for Prometheus (see config.metrics)."""

from prometheus_client.core import GaugeMetricFamily


class CloseCollector:
    def describe(self):
        yield GaugeMetricFamily(
            "stemma_period_close_seconds", "Wall time of each label's latest close", labels=["label"]
        )

    def collect(self):
        from royalties.models import Period, PeriodStatus

        gauge = GaugeMetricFamily(
            "stemma_period_close_seconds", "Wall time of each label's latest close", labels=["label"]
        )
        latest = {}  # one row per label and month: small enough to pick the latest in Python
        closed = Period.objects.filter(status=PeriodStatus.CLOSED).select_related("label").order_by("month")
        for period in closed.only("month", "summary", "label__slug"):
            latest[period.label.slug] = period
        for slug, period in sorted(latest.items()):
            seconds = (period.summary or {}).get("seconds")
            if seconds is not None:
                gauge.add_metric([slug], float(seconds))
        yield gauge
