"""Turns the attribution engine's domain events into webhook deliveries (subscribed in apps.ready)."""

from partner_api.models import WebhookEvent
from partner_api.selectors import webhook_endpoints_for_event
from partner_api.serializers import AttributionSerializer, ClipSerializer
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
    webhook_event_emit(partner=clip.partner, label=clip.label, event_type=event_type, data=data)
