"""Turns the attribution engine's domain events into webhook deliveries (subscribed in apps.ready)."""

from partner_api.models import WebhookEvent
from partner_api.selectors import webhook_endpoints_for_event
from partner_api.serializers import AttributionSerializer, ClipSerializer, UnlicensedUseSerializer
from partner_api.services import webhook_event_emit


def clip_event_to_webhooks(event_type: str, *, clip, attribution) -> None:
    if event_type not in WebhookEvent.values:
        return
    if not webhook_endpoints_for_event(partner=clip.partner, label=clip.label, event_type=event_type):
        return
    data = {
        "clip": ClipSerializer(clip).data,
        "attribution": AttributionSerializer(attribution).data if attribution is not None else None,
    }
    if event_type == WebhookEvent.ATTRIBUTION_UNLICENSED_USE and attribution is not None:
        data["unlicensed_uses"] = UnlicensedUseSerializer(
            attribution.unlicensed_uses.select_related("recording", "party"), many=True
        ).data
    webhook_event_emit(partner=clip.partner, label=clip.label, event_type=event_type, data=data)
