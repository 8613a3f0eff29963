"""Uses outside the licence: an opt-out from a date flags the clips made after it (not before), holds their
money through the close, raises the alert and the webhook, and keeps the evidence."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.consent import consent_set
from fingerprinting.models import ReviewState, UnlicensedUse
from fingerprinting.services import attribution_revise, clip_attribute
from royalties.models import Statement
from royalties.reconcile import period_reconcile
from royalties.services import period_close
from tests.factories import (
    LabelFactory,
    PartnerFactory,
    PartyFactory,
    RecordingFactory,
    UserFactory,
    split_for,
)
from tests.fingerprinting.test_share_rights import engine_answer
from tests.royalties.factories import ClipFactory, deal, usage

pytestmark = pytest.mark.django_db
OPT_OUT_FROM = date(2026, 10, 10)


def at(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, 12))


@pytest.fixture
def world():
    label, partner = LabelFactory(), PartnerFactory()
    deal(label, partner, rate="0.5")
    ann, ben = PartyFactory(label=label, name="Ann"), PartyFactory(label=label, name="Ben")
    a, b = RecordingFactory(label=label, title="A"), RecordingFactory(label=label, title="B")
    split_for(a, {ann: "1"})
    split_for(b, {ben: "1"})
    consent_set(
        label=label, party=ann, use="training", state="opt_out", effective_from=OPT_OUT_FROM, reason="letter"
    )
    return label, partner, a, b, ann, ben


def attributed_clip(monkeypatch, world, day: date):
    label, partner, a, b, *_ = world
    clip = ClipFactory(label=label, partner=partner, status="queued", generated_at=at(day))
    engine_answer(monkeypatch, [a, b], [(0, 0.6, "verbatim", None), (1, 0.4, "verbatim", None)])
    return clip, clip_attribute(clip=clip)


def test_a_clip_made_after_the_opt_out_goes_to_review_with_the_reason_and_evidence(monkeypatch, world):
    label, partner, a, *_ = world
    before_clip, before = attributed_clip(monkeypatch, world, date(2026, 10, 9))
    assert before.review_state == ReviewState.AUTO_ACCEPTED and not UnlicensedUse.objects.exists()
    clip, after = attributed_clip(monkeypatch, world, date(2026, 10, 10))
    assert after.review_state == ReviewState.NEEDS_REVIEW
    assert [r["code"] for r in after.review_reasons] == ["outside_licence"]
    assert a.isrc in after.review_reasons[0]["message"] and "Ann" in after.review_reasons[0]["message"]
    (use,) = UnlicensedUse.objects.all()
    assert (use.clip, use.attribution, use.recording, use.use, use.reason) == (
        clip,
        after,
        a,
        "training",
        "consent_opt_out",
    )
    assert use.share == Decimal("0.6") and use.clip_date == date(2026, 10, 10) and use.consent_version_ids


def test_a_declared_reference_opted_out_of_conditioning_is_outside_the_licence(monkeypatch, world):
    label, partner, a, b, ann, ben = world
    consent_set(
        label=label, recording=b, use="conditioning", state="opt_out", effective_from=date(2026, 1, 1)
    )
    clip = ClipFactory(
        label=label,
        partner=partner,
        status="queued",
        generated_at=at(date(2026, 3, 1)),
        declared_references=[b.isrc],
    )
    engine_answer(monkeypatch, [a, b], [(0, 0.5, "verbatim", None)])
    attribution = clip_attribute(clip=clip)
    assert attribution.review_state == ReviewState.NEEDS_REVIEW
    assert list(UnlicensedUse.objects.values_list("recording", "use")) == [(b.pk, "conditioning")]


def test_a_partner_without_a_deal_is_not_licensed(monkeypatch, world):
    label, partner, a, b, *_ = world
    stranger = PartnerFactory()
    clip = ClipFactory(label=label, partner=stranger, status="queued", generated_at=at(date(2026, 3, 1)))
    engine_answer(monkeypatch, [a, b], [(1, 0.5, "verbatim", None)])
    attribution = clip_attribute(clip=clip)
    assert attribution.review_state == ReviewState.NEEDS_REVIEW
    assert list(UnlicensedUse.objects.values_list("reason", flat=True)) == ["not_licensed"]


def test_the_close_holds_the_money_even_if_a_reviewer_confirms_and_pays_clips_before(monkeypatch, world):
    """Revenue 100 at rate 0.5: pool 50 per clip. The clip before the opt-out pays A 30 (Ann) and B 20
    (Ben); the clip after it is held whole (50 in suspense), even once a reviewer confirms it."""
    label, partner, a, b, ann, ben = world
    before_clip, _ = attributed_clip(monkeypatch, world, date(2026, 10, 9))
    after_clip, after = attributed_clip(monkeypatch, world, date(2026, 10, 12))
    attribution_revise(
        clip=after_clip, shares={a: "0.6", b: "0.4"}, review_state=ReviewState.CONFIRMED,
        created_by=UserFactory(), reason="looks right",
    )  # fmt: skip
    after_clip.refresh_from_db()
    assert UnlicensedUse.objects.filter(attribution=after_clip.current_attribution).exists()
    usage(before_clip, "100.00", day=date(2026, 10, 15))
    usage(after_clip, "100.00", day=date(2026, 10, 15))
    period_close(label=label, period="2026-10")
    balances = {s.party.name: s.closing_balance for s in Statement.objects.filter(period__label=label)}
    assert balances == {"Ann": Decimal("30.00"), "Ben": Decimal("20.00")}
    assert period_reconcile(label=label, period="2026-10").ok


def test_the_unlicensed_use_webhook_is_sent(monkeypatch, world, django_capture_on_commit_callbacks, settings):
    from partner_api.models import WebhookDelivery
    from partner_api.services import webhook_endpoint_create

    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    monkeypatch.setattr("partner_api.tasks.webhook_deliver_task.delay", lambda *a, **k: None, raising=False)
    label, partner, *_ = world
    webhook_endpoint_create(
        partner=partner,
        label=label,
        url="http://127.0.0.1:9/hook",
        event_types=["attribution.unlicensed_use"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        attributed_clip(monkeypatch, world, date(2026, 11, 1))
    (delivery,) = WebhookDelivery.objects.filter(event_type="attribution.unlicensed_use")
    uses = delivery.payload["data"]["unlicensed_uses"]
    assert [(u["use"], u["reason"]) for u in uses] == [("training", "consent_opt_out")]


def test_the_label_sees_alerts_on_the_dashboard_the_period_page_and_a_csv_per_period(
    monkeypatch, world, client
):
    from royalties.models import Period
    from tests.factories import member

    label, partner, a, b, *_ = world
    clip, _ = attributed_clip(monkeypatch, world, date(2026, 10, 12))
    usage(clip, "100.00", day=date(2026, 10, 15))
    period_close(label=label, period="2026-10")
    client.force_login(member("rita", label))
    dashboard = client.get("/royalties/dashboard/").content.decode()
    assert "Uses outside the licence" in dashboard and clip.external_id in dashboard
    period = Period.objects.get(label=label, month=date(2026, 10, 1))
    page = client.get(f"/royalties/periods/{period.pk}/").content.decode()
    assert "Held: uses outside the licence" in page and "50.00" in page
    report = client.get("/clips/outside-licence/", {"period": "2026-10", "format": "csv"})
    lines = report.content.decode().splitlines()
    assert (
        lines[0].startswith("detected_at,clip_date") and a.isrc in lines[1] and "consent_opt_out" in lines[1]
    )
    assert len(lines) == 2
    other = member("bob", LabelFactory())
    client.force_login(other)
    assert a.isrc not in client.get("/clips/outside-licence/", {"format": "csv"}).content.decode()


def test_the_statement_shows_what_a_held_clip_would_have_paid_apart(monkeypatch, world, client):
    """Held clip: pool 50, A 0.6 (Ann) and B 0.4 (Ben). A paid clip gives both a statement; Ben's shows
    20.00 held apart (50 x 0.4), not in his closing balance."""
    from tests.factories import member

    label, partner, a, b, ann, ben = world
    paid, _ = attributed_clip(monkeypatch, world, date(2026, 10, 9))
    held, _ = attributed_clip(monkeypatch, world, date(2026, 10, 12))
    usage(paid, "100.00", day=date(2026, 10, 15))
    usage(held, "100.00", day=date(2026, 10, 15))
    period_close(label=label, period="2026-10")
    statement = Statement.objects.get(period__label=label, party=ben)
    assert statement.closing_balance == Decimal("20.00")
    client.force_login(member("rita", label))
    page = client.get(f"/royalties/statements/{statement.pk}/").content.decode()
    section = page.split('id="held"')[1]
    assert held.external_id in section and "20.00" in section and paid.external_id not in section


def test_the_record_of_an_unlicensed_use_cannot_be_rewritten(monkeypatch, world):
    from django.db import IntegrityError, connection, transaction

    attributed_clip(monkeypatch, world, date(2026, 10, 12))
    with (
        pytest.raises(IntegrityError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE fingerprinting_unlicenseduse SET reason = 'not_licensed'")


@pytest.mark.postgres
def test_postgres_refuses_deleting_an_unlicensed_use(monkeypatch, world):
    from django.db import IntegrityError, connection, transaction

    attributed_clip(monkeypatch, world, date(2026, 10, 12))
    with (
        pytest.raises(IntegrityError, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM fingerprinting_unlicenseduse")
