"""Reads for the partner API. Every query is scoped to one (partner, label) pair: the API key's."""

from django.core.cache import cache
from django.db.models import Prefetch, QuerySet

from catalog.models import Label, Partner
from config.errors import NotFound
from config.queries import CompiledLookup
from fingerprinting.models import Attribution, AttributionShare, Clip
from partner_api.errors import AttributionNotReady
from partner_api.models import ApiKey, UsageReport, WebhookDelivery, WebhookEndpoint

MAX_ID = 2**63 - 1  # larger ids cannot exist, and would overflow the database's bigint


def _id_or_404(value: int, what: str) -> int:
    if not 0 < value <= MAX_ID:
        raise NotFound(f"No {what} {value}.")
    return value


def apikey_cache_key(prefix: str) -> str:
    return f"partner_api:apikey:{prefix}"


APIKEY_CACHE_SECONDS = 60


def apikey_lookup(*, prefix: str) -> ApiKey | None:
    """The key with its partner and label, from the cache when there (every request needs it).

    `apikey_revoke` and `apikey_touch` rewrite the entry, so with the shared Redis cache a revocation
    holds at once; with the per-process local-memory cache (development) within APIKEY_CACHE_SECONDS.
    """
    cache_key = apikey_cache_key(prefix)
    api_key = cache.get(cache_key)
    if api_key is None:
        try:
            api_key = ApiKey.objects.select_related("partner", "label").get(prefix=prefix)
        except ApiKey.DoesNotExist:
            return None
        cache.set(cache_key, api_key, APIKEY_CACHE_SECONDS)
    return api_key


def clip_queryset(*, partner: Partner, label: Label) -> QuerySet[Clip]:
    return Clip.objects.filter(partner=partner, label=label)


# Every poll of GET /clips/{id} runs this: compiled once (config/queries.py says why).
_clip_by_id = CompiledLookup(
    Clip,
    lambda partner_id, label_id, clip_id: Clip.objects.filter(
        partner_id=partner_id, label_id=label_id, pk=clip_id
    ),
    params=("partner_id", "label_id", "clip_id"),
)


def clip_get(*, partner: Partner, label: Label, clip_id: int) -> Clip:
    clip = _clip_by_id.get(partner_id=partner.pk, label_id=label.pk, clip_id=_id_or_404(clip_id, "clip"))
    if not isinstance(clip, Clip):
        raise NotFound(f"No clip {clip_id}.")
    return clip


def _attributions(clip: Clip) -> QuerySet[Attribution]:
    shares = AttributionShare.objects.select_related("recording").order_by("rank")
    return (
        Attribution.objects.filter(clip=clip)
        .select_related("clip")
        .prefetch_related(Prefetch("shares", queryset=shares))
    )


def attribution_current(*, partner: Partner, label: Label, clip_id: int) -> Attribution:
    clip = clip_get(partner=partner, label=label, clip_id=clip_id)
    if clip.current_attribution_id is None:
        raise AttributionNotReady(f"Clip {clip.pk} has no attribution yet (status: {clip.status}).")
    return _attributions(clip).get(pk=clip.current_attribution_id)


def attribution_list(*, partner: Partner, label: Label, clip_id: int) -> list[Attribution]:
    clip = clip_get(partner=partner, label=label, clip_id=clip_id)
    return list(_attributions(clip).order_by("-version"))


def usage_report_get(*, partner: Partner, label: Label, report_id: int) -> UsageReport:
    report_id = _id_or_404(report_id, "usage report")
    report = UsageReport.objects.filter(partner=partner, label=label, pk=report_id).first()
    if report is None:
        raise NotFound(f"No usage report {report_id}.")
    return report


def webhook_endpoint_list(*, partner: Partner, label: Label) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(partner=partner, label=label)


def webhook_endpoint_get(*, partner: Partner, label: Label, endpoint_id: int) -> WebhookEndpoint:
    endpoint_id = _id_or_404(endpoint_id, "webhook endpoint")
    endpoint = webhook_endpoint_list(partner=partner, label=label).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}.")
    return endpoint


def webhook_delivery_list(*, partner: Partner, label: Label, endpoint_id: int) -> QuerySet[WebhookDelivery]:
    endpoint = webhook_endpoint_get(partner=partner, label=label, endpoint_id=endpoint_id)
    return WebhookDelivery.objects.filter(endpoint=endpoint)


def label_webhook_endpoint_list(*, label: Label) -> QuerySet[WebhookEndpoint]:
    """The label's own endpoints (no partner); never a partner's, never another label's."""
    return WebhookEndpoint.objects.filter(label=label, partner__isnull=True)


def label_webhook_delivery_list(*, label: Label) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint__label=label, endpoint__partner__isnull=True)


def webhook_endpoints_for_event(
    *, partner: Partner | None, label: Label, event_type: str
) -> list[WebhookEndpoint]:
    """Active endpoints that want the event: the partner's within the label, or the label's own (None)."""
    if partner is None:
        endpoints = label_webhook_endpoint_list(label=label)
    else:
        endpoints = webhook_endpoint_list(partner=partner, label=label)
    return [endpoint for endpoint in endpoints.filter(is_active=True) if endpoint.wants(event_type)]
