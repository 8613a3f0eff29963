"""Clip and attribution metrics for Prometheus (see config.metrics)."""

from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 900)
LATENCY_WINDOW = timedelta(hours=1)


class ClipCollector:
    def describe(self):
        yield CounterMetricFamily("stemma_clips", "Clips received, by current status", labels=["status"])
        yield HistogramMetricFamily(
            "stemma_attribution_latency_seconds", "Seconds from clip received to attribution"
        )

    def collect(self):
        from fingerprinting.models import Attribution, Clip

        clips = CounterMetricFamily("stemma_clips", "Clips received, by current status", labels=["status"])
        for status, n in Clip.objects.values_list("status").annotate(n=Count("id")).order_by():
            clips.add_metric([status], n)
        yield clips

        # Time from a clip's arrival to its first attribution, over the last hour's attributions.
        since = timezone.now() - LATENCY_WINDOW
        latency = ExpressionWrapper(F("created_at") - F("clip__created_at"), output_field=DurationField())
        seconds = sorted(
            d.total_seconds()
            for d in Attribution.objects.filter(version=1, created_at__gte=since)
            .annotate(latency=latency)
            .values_list("latency", flat=True)
            if d is not None
        )
        buckets, count = [], 0
        for bound in LATENCY_BUCKETS:
            while count < len(seconds) and seconds[count] <= bound:
                count += 1
            buckets.append((str(bound), count))
        buckets.append(("+Inf", len(seconds)))
        yield HistogramMetricFamily(
            "stemma_attribution_latency_seconds",
            "Seconds from clip received to first attribution (attributions of the last hour)",
            buckets=buckets,
            sum_value=sum(seconds),
        )
