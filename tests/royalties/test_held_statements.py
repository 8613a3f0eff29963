"""A party whose only money in a period was held still gets a statement for the period: zero payable, and
the held section (what was held, on which clip, why) on the page, in the CSV and in the PDF."""

from datetime import date
from decimal import Decimal

import pytest
from reportlab import rl_config

from catalog.consent import consent_set
from fingerprinting.models import ReviewState
from ledger.selectors import account_balance_by_code
from royalties import exports
from royalties.models import Statement
from royalties.reconcile import period_reconcile
from royalties.selectors import statement_held
from royalties.services import period_close
from tests.factories import LabelFactory, PartnerFactory, PartyFactory, RecordingFactory, member, split_for
from tests.fingerprinting.test_share_rights import engine_answer
from tests.fingerprinting.test_unlicensed_use import at
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    label, partner = LabelFactory(), PartnerFactory()
    deal(label, partner, rate="0.5")
    ann, ben = PartyFactory(label=label, name="Ann"), PartyFactory(label=label, name="Ben")
    a, b = RecordingFactory(label=label, title="Alpha"), RecordingFactory(label=label, title="Beta")
    split_for(a, {ann: "1"})
    split_for(b, {ben: "1"})
    return label, partner, a, b, ann, ben


def pdf_bytes(statement, monkeypatch) -> bytes:
    monkeypatch.setattr(rl_config, "pageCompression", 0)  # the text stays readable in the bytes
    return exports.statement_pdf(statement)


def test_parties_whose_only_money_was_held_outside_the_licence_get_a_statement(monkeypatch, world, client):
    """Ann opted out of training from Oct 10; a clip of Oct 12 drew on Alpha 0.6 (Ann) and Beta 0.4 (Ben):
    its pool 50.00 is held whole. Neither earned anything else: each still gets a statement, zero payable,
    whose held section shows 30.00 (Ann) and 20.00 (Ben), outside the licence."""
    label, partner, a, b, ann, ben = world
    consent_set(label=label, party=ann, use="training", state="opt_out", effective_from=date(2026, 10, 10))
    clip = ClipFactory(label=label, partner=partner, status="queued", generated_at=at(date(2026, 10, 12)))
    engine_answer(monkeypatch, [a, b], [(0, 0.6, "verbatim", None), (1, 0.4, "verbatim", None)])
    from fingerprinting.services import clip_attribute

    clip_attribute(clip=clip)
    usage(clip, "100.00", day=date(2026, 10, 15))
    period_close(label=label, period="2026-10")

    statements = {s.party.name: s for s in Statement.objects.filter(period__label=label)}
    assert set(statements) == {"Ann", "Ben"}
    for statement in statements.values():
        assert (statement.earnings, statement.closing_balance) == (0, 0)
    held = {
        name: [
            (row.clip, row.recording, row.amount, row.outside_licence) for row in statement_held(statement=s)
        ]
        for name, s in statements.items()
    }
    assert held == {
        "Ann": [(clip, a, Decimal("30"), True)],
        "Ben": [(clip, b, Decimal("20"), True)],
    }
    assert period_reconcile(label=label, period="2026-10").ok

    csv = exports.statement_csv(statements["Ann"])
    assert "closing balance,0.00" in csv
    assert "held_total,EUR,30.00" in csv
    assert f"held,master,{a.isrc},Alpha,{clip.external_id},30.00,30.000000,EUR,outside the licence" in csv
    pdf = pdf_bytes(statements["Ann"], monkeypatch)
    for text in (b"Held, not payable", b"30.00", a.isrc.encode(), b"outside the licence"):
        assert text in pdf, text

    client.force_login(member("rita", label))
    page = client.get(f"/royalties/statements/{statements['Ben'].pk}/").content.decode()
    section = page.split('id="held"')[1]
    assert clip.external_id in section and "20.00" in section and "outside the licence" in section
    assert client.get(f"/royalties/statements/{statements['Ben'].pk}.pdf").status_code == 200
    assert (
        "held_total,EUR,20.00"
        in client.get(f"/royalties/statements/{statements['Ben'].pk}.csv").content.decode()
    )


def test_a_party_whose_clip_waits_for_review_gets_a_statement_then_is_paid_when_reviewed(monkeypatch, world):
    """Sep: Ann's only clip needs review: 50.00 held, Ann's statement shows it held (waiting for review),
    payable 0. Oct: confirmed: released to Ann as an adjustment (50.00) and nothing is held."""
    label, partner, a, b, ann, ben = world
    clip = ClipFactory(label=label, partner=partner)
    attribute(
        clip, {a: "1"}, review_state=ReviewState.NEEDS_REVIEW,
        review_reasons=[{"code": "low_confidence", "message": "one lane only"}],
    )  # fmt: skip
    usage(clip, "100.00", day=date(2026, 9, 15))
    period_close(label=label, period="2026-09")
    september = Statement.objects.get(party=ann, period__month=date(2026, 9, 1))
    assert september.closing_balance == 0
    (row,) = statement_held(statement=september)
    assert (row.amount, row.reason, row.outside_licence) == (Decimal("50"), "one lane only", False)
    assert "held_total,EUR,50.00" in exports.statement_csv(september)
    assert b"one lane only" in pdf_bytes(september, monkeypatch)
    assert not Statement.objects.filter(party=ben).exists()  # nothing of Ben's was drawn on

    attribute(clip, {a: "1"}, review_state=ReviewState.CONFIRMED)
    period_close(label=label, period="2026-10")
    october = Statement.objects.get(party=ann, period__month=date(2026, 10, 1))
    assert (october.adjustments, october.closing_balance) == (Decimal("50.00"), Decimal("50.00"))
    assert statement_held(statement=october) == []
    assert account_balance_by_code(code=f"label:{label.pk}:suspense", currency="EUR") == 0
    assert period_reconcile(label=label, period="2026-10").ok


def test_another_labels_party_with_the_same_name_is_not_shown_held_money(monkeypatch, world):
    label, partner, a, b, ann, ben = world
    other = LabelFactory()
    stranger = PartyFactory(label=other, name="Ann")
    split_for(RecordingFactory(label=other), {stranger: "1"})
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {a: "1"}, review_state=ReviewState.NEEDS_REVIEW)
    usage(clip, "100.00", day=date(2026, 9, 15))
    period_close(label=label, period="2026-09")
    assert not Statement.objects.filter(party=stranger).exists()
