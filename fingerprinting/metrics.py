"""Clip and attribution metrics for Prometheus (see config.metrics).

- `stemma_clips{status}`: a gauge of clips by their current status, read at scrape time (a clip moves
  from queued to attributed, so a count by status goes down as well as up).
- `stemma_attribution_latency_seconds`: a histogram observed once per clip, when its first attribution
  is committed (the `clip.attributed` event, in the process that attributed it: the attribution worker,
  or the web process in eager mode), of the seconds since the clip was received.
- `stemma_clips_rejected_total{code}`: a counter of clips processing rejected, by reason.
"""

from django.db.models import Count
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from fingerprinting import events

# Seconds from a clip's arrival to its first attribution: a few seconds when the queue is empty, minutes
# under a backlog; 900 s is CLIP_PROCESSING_TIMEOUT_SECONDS' default, past which the sweep retries it.
LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 900)

ATTRIBUTION_LATENCY = Histogram(
    "stemma_attribution_latency_seconds",
    "Seconds from a clip received to its first attribution committed",
    buckets=LATENCY_BUCKETS,
)
CLIPS_REJECTED = Counter("stemma_clips_rejected", "Clips rejected by processing, by reason", ["code"])


def clip_event_observe(event_type: str, *, clip, attribution) -> None:
    """fingerprinting.events handler (subscribed in apps.ready), run after the commit."""
    if event_type == events.CLIP_ATTRIBUTED and attribution is not None and attribution.version == 1:
        seconds = (attribution.created_at - clip.created_at).total_seconds()
        ATTRIBUTION_LATENCY.observe(max(seconds, 0.0))
    elif event_type == events.CLIP_REJECTED:
        CLIPS_REJECTED.labels(clip.reject_code or "unknown").inc()


class ClipCollector:
    def describe(self):
        yield GaugeMetricFamily("stemma_clips", "Clips by current status", labels=["status"])

    def collect(self):
        from fingerprinting.models import Clip, ClipStatus

        clips = GaugeMetricFamily("stemma_clips", "Clips by current status", labels=["status"])
        counts = dict(Clip.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in ClipStatus.values:
            clips.add_metric([status], counts.get(status, 0))
        yield clips
