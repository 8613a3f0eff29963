"""The label's own webhook endpoints: added by the label's admins on the Webhooks page, signed like
partners' (Standard Webhooks), sent `attribution.unlicensed_use` about every partner's clips, logged; a
label never sees another label's endpoints or deliveries, and partners never see the label's."""

import pytest
from django.test import Client

from catalog.models import AuditEvent, Role
from fingerprinting import events
from partner_api.models import WebhookDelivery, WebhookEndpoint
from partner_api.services import label_webhook_endpoint_create
from tests.factories import member
from tests.partner_api.conftest import make_attribution, make_clip
from tests.partner_api.test_webhooks import WEBHOOKS, Receiver, register

pytestmark = pytest.mark.django_db
PAGE = "/webhooks/"
UNLICENSED = "attribution.unlicensed_use"


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_adds_an_endpoint_the_secret_is_shown_once_and_the_alert_arrives_signed(
    world, receiver, django_capture_on_commit_callbacks
):
    """Alice (admin of Aurora) adds an endpoint; a clip of partner 2 used outside the licence: the label's
    endpoint gets the alert signed with its secret, naming the partner; the partner keeps getting it at its
    own endpoint (docs/api.md promises it); the Webhooks page logs the delivery."""
    alice = web(member("alice", world.a1.label, Role.ADMIN))
    added = alice.post(PAGE, {"url": receiver.url, "event_types": [UNLICENSED], "description": "legal"})
    assert added.status_code == 302
    endpoint = WebhookEndpoint.objects.get(partner__isnull=True)
    assert (endpoint.label, endpoint.event_types) == (world.a1.label, [UNLICENSED])
    page = alice.get(PAGE).content.decode()
    receiver.secret = endpoint.secret
    assert endpoint.secret in page  # shown once...
    assert endpoint.secret not in alice.get(PAGE).content.decode()  # ...and never again
    assert AuditEvent.objects.filter(action="webhook_endpoint.created", label=world.a1.label).exists()

    partner_receiver = Receiver()
    try:
        partner_receiver.secret = register(world.a2, partner_receiver.url, events_=(UNLICENSED,))["secret"]
        clip = make_clip(world.a2)
        with django_capture_on_commit_callbacks(execute=True):
            attribution = make_attribution(clip)
            events.publish(UNLICENSED, clip=clip, attribution=attribution)
        (partner_got,) = partner_receiver.received
    finally:
        partner_receiver.close()
    (got,) = receiver.received
    assert got["valid"] is True and got["event_type"] == UNLICENSED
    assert got["payload"]["data"]["clip"]["id"] == clip.pk
    assert got["payload"]["data"]["partner"] == {"slug": world.a2.partner.slug, "name": world.a2.partner.name}
    assert partner_got["valid"] is True and "partner" not in partner_got["payload"]["data"]
    assert got["webhook_id"] != partner_got["webhook_id"]  # one event id per audience

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
    assert delivery.event_id in alice.get(PAGE).content.decode()


def test_label_endpoints_get_only_label_events(world, receiver, django_capture_on_commit_callbacks):
    label_webhook_endpoint_create(label=world.a1.label, url=receiver.url, event_types=[UNLICENSED])
    clip = make_clip(world.a1)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish("clip.attributed", clip=clip, attribution=make_attribution(clip))
    assert receiver.received == [] and not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"url": "ftp://example.com/x", "event_types": [UNLICENSED]}, "webhook_url_invalid"),
        ({"url": "http://127.0.0.1:9/x", "event_types": ["clip.attributed"]}, "webhook_events_invalid"),
        ({"url": "http://127.0.0.1:9/x"}, "webhook_events_invalid"),
    ],
)
def test_bad_input_answers_400_with_its_code_and_writes_nothing(world, form, code):
    alice = web(member("alice", world.a1.label, Role.ADMIN))
    response = alice.post(PAGE, form)
    assert response.status_code == 400
    assert f'data-error-code="{code}"'.encode() in response.content
    assert not WebhookEndpoint.objects.exists()


def test_only_admins_manage_endpoints(world):
    endpoint = label_webhook_endpoint_create(
        label=world.a1.label, url="http://127.0.0.1:9/x", event_types=[UNLICENSED]
    )
    viewer = web(member("victor", world.a1.label, Role.VIEWER))
    assert viewer.get(PAGE).status_code == 200
    assert viewer.post(PAGE, {"url": "http://127.0.0.1:9/y", "event_types": [UNLICENSED]}).status_code == 403
    assert viewer.post(f"{PAGE}{endpoint.pk}/delete/").status_code == 403
    assert WebhookEndpoint.objects.count() == 1


def test_a_label_never_sees_another_labels_endpoints_or_deliveries(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    """Bob (admin of Boreal) must not see, pause or remove Aurora's endpoint, nor see its deliveries; a
    partner's endpoint is not a label endpoint either (404 on the label's actions)."""
    aurora = label_webhook_endpoint_create(
        label=world.a1.label, url="http://127.0.0.1:9/aurora-secret-path", event_types=[UNLICENSED]
    )
    boreal = label_webhook_endpoint_create(
        label=world.b1.label, url="http://127.0.0.1:9/boreal", event_types=[UNLICENSED]
    )
    partners = register(world.b1, "http://127.0.0.1:9/partner", events_=(UNLICENSED,))
    clip = make_clip(world.a1)
    # Deliveries recorded, not sent (nothing listens on port 9).
    monkeypatch.setattr("partner_api.services.webhooks.enqueue_on_commit", lambda *args: None)
    with django_capture_on_commit_callbacks(execute=True):
        events.publish(UNLICENSED, clip=clip, attribution=make_attribution(clip))
    aurora_delivery = WebhookDelivery.objects.get(endpoint=aurora)
    assert not WebhookDelivery.objects.filter(endpoint=boreal).exists()  # Boreal hears nothing of Aurora

    bob = web(member("bob", world.b1.label, Role.ADMIN))
    page = bob.get(PAGE).content.decode()
    assert "boreal" in page
    assert "aurora-secret-path" not in page and aurora_delivery.event_id not in page
    for action in ("toggle", "delete"):
        assert bob.post(f"{PAGE}{aurora.pk}/{action}/").status_code == 404
        assert bob.post(f"{PAGE}{partners['id']}/{action}/").status_code == 404
    aurora.refresh_from_db()
    assert aurora.is_active

    alice = web(member("alice", world.a1.label, Role.ADMIN))
    assert "boreal" not in alice.get(PAGE).content.decode()
    assert alice.post(f"{PAGE}{aurora.pk}/toggle/").status_code == 302
    aurora.refresh_from_db()
    assert not aurora.is_active
    assert alice.post(f"{PAGE}{aurora.pk}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.filter(pk=aurora.pk).exists()


def test_partners_never_see_the_labels_endpoints(world):
    endpoint = label_webhook_endpoint_create(
        label=world.a1.label, url="http://127.0.0.1:9/x", event_types=[UNLICENSED]
    )
    client = world.a1.client()
    assert client.get(WEBHOOKS).json()["results"] == []
    assert client.get(f"{WEBHOOKS}/{endpoint.pk}").status_code == 404
    assert client.get(f"{WEBHOOKS}/{endpoint.pk}/deliveries").status_code == 404
    assert client.delete(f"{WEBHOOKS}/{endpoint.pk}").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
