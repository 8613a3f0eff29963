"""Partners see the right each share implicates: `shares[].right` in the API, its webhooks and its schema."""

import pytest
import yaml
from django.db import transaction
from rest_framework.test import APIClient

from fingerprinting import events
from fingerprinting.models import ShareRight
from tests.factories import RecordingFactory
from tests.partner_api.conftest import make_clip
from tests.partner_api.test_webhooks import receiver, register  # noqa: F401 (a fixture)
from tests.royalties.factories import attribute

pytestmark = pytest.mark.django_db
CLIPS = "/api/v1/clips"


def mixed_attribution(cell):
    clip = make_clip(cell)
    a, b = RecordingFactory(label=cell.label), RecordingFactory(label=cell.label)
    clip.status = "attributed"
    clip.save(update_fields=["status"])
    return clip, a, b, attribute(clip, {a: "0.6", b: "0.3"}, rights={b: ShareRight.COMPOSITION})


def test_attribution_shares_name_their_right(world):
    clip, a, b, _ = mixed_attribution(world.a1)
    client = world.a1.client()
    current = client.get(f"{CLIPS}/{clip.pk}/attribution").json()
    assert [(s["recording"]["isrc"], s["share"], s["right"]) for s in current["shares"]] == [
        (a.isrc, "0.600000", "recording"),
        (b.isrc, "0.300000", "composition"),
    ]
    (version,) = client.get(f"{CLIPS}/{clip.pk}/attributions").json()
    assert [s["right"] for s in version["shares"]] == ["recording", "composition"]


def test_the_webhook_payload_carries_each_shares_right(world, receiver, django_capture_on_commit_callbacks):  # noqa: F811
    receiver.secret = register(world.a1, receiver.url)["secret"]
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        clip, a, b, attribution = mixed_attribution(world.a1)
        events.publish("clip.attributed", clip=clip, attribution=attribution)
    (got,) = receiver.received
    assert got["valid"]
    shares = got["payload"]["data"]["attribution"]["shares"]
    assert [(s["recording"]["isrc"], s["right"]) for s in shares] == [
        (a.isrc, "recording"),
        (b.isrc, "composition"),
    ]


def test_the_schema_documents_the_right_as_an_enum():
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    share = schema["components"]["schemas"]["AttributionShare"]
    assert "right" in share["required"]
    assert share["properties"]["right"]["allOf"] == [{"$ref": "#/components/schemas/ShareRightEnum"}]
    assert schema["components"]["schemas"]["ShareRightEnum"]["enum"] == ["recording", "composition"]
