"""Turns the attribution engine's domain events into webhook deliveries (subscribed in apps.ready).

A clip's events go to its partner's endpoints within the label. `attribution.unlicensed_use` also goes to
the label's own endpoints (LABEL_EVENTS): the label is the one the alert is for (it holds the money and
the evidence), and the partner keeps getting it as docs/api.md promised (its clip is in review and its
use is outside its licence: the partner is the one who can stop it). Each audience gets its own event id.
"""

from catalog.models import Label, Partner
from partner_api.models import LABEL_EVENTS, WebhookEvent
from partner_api.selectors import webhook_endpoints_for_event
from partner_api.serializers import AttributionSerializer, ClipSerializer, UnlicensedUseSerializer
from partner_api.services import webhook_event_emit


def _event_data(event_type: str, *, clip, attribution) -> dict:
    data = {
        "clip": ClipSerializer(clip).data,
        "attribution": AttributionSerializer(attribution).data if attribution is not None else None,
    }
    if event_type == WebhookEvent.ATTRIBUTION_UNLICENSED_USE and attribution is not None:
        data["unlicensed_uses"] = UnlicensedUseSerializer(
            attribution.unlicensed_uses.select_related("recording", "party"), many=True
        ).data
    return data


def clip_event_to_webhooks(event_type: str, *, clip, attribution) -> None:
    if event_type not in WebhookEvent.values:
        return
    audiences: list[Partner | None] = [clip.partner]
    if event_type in LABEL_EVENTS:
        audiences.append(None)  # the label's own endpoints
    label: Label = clip.label
    wanted = [
        p for p in audiences if webhook_endpoints_for_event(partner=p, label=label, event_type=event_type)
    ]
    if not wanted:
        return
    data = _event_data(event_type, clip=clip, attribution=attribution)
    for partner in wanted:
        if partner is None:
            # The label hears about every partner's clips: the payload names whose clip it is.
            label_data = {**data, "partner": {"slug": clip.partner.slug, "name": clip.partner.name}}
            webhook_event_emit(partner=None, label=label, event_type=event_type, data=label_data)
        else:
            webhook_event_emit(partner=partner, label=label, event_type=event_type, data=data)
