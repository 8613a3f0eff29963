"""Licensed voice models: registered only with voice consent, declared on a clip, paid as their own line
kind through the close, reconciled; an undeclared clip pays no voice share."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.consent import consent_set
from catalog.errors import ConsentInvalid
from catalog.models import Role, VoiceModel
from catalog.voice import voice_model_register
from fingerprinting.models import UnlicensedUse
from fingerprinting.services import clip_attribute
from ledger.models import Transaction
from ledger.selectors import account_balance_by_code, transaction_is_balanced
from royalties.models import (
    ClipAllocation,
    PartnerSettlement,
    Period,
    Statement,
    StatementLine,
    StatementLineKind,
)
from royalties.reconcile import period_reconcile
from royalties.selectors import statement_held
from royalties.services import fx_rate_set, period_close
from tests.factories import (
    LabelFactory,
    MembershipFactory,
    PartnerFactory,
    PartyFactory,
    RecordingFactory,
    UserFactory,
    split_for,
)
from tests.fingerprinting.test_share_rights import engine_answer
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    label, partner = LabelFactory(), PartnerFactory()
    deal(label, partner, rate="0.5")
    ann, ben, sia = (PartyFactory(label=label, name=n) for n in ("Ann", "Ben", "Sia"))
    a, b = RecordingFactory(label=label, title="A"), RecordingFactory(label=label, title="B")
    split_for(a, {ann: "1"})
    split_for(b, {ben: "1"})
    return label, partner, a, b, sia


def registered(world, **changes):
    label, partner, a, b, sia = world
    consent_set(label=label, party=sia, use="voice", state="opt_in", effective_from=date(2026, 1, 1))
    terms = {"name": "Sia v1", "pool_share": "0.2", "effective_from": date(2026, 1, 1), **changes}
    return voice_model_register(label=label, party=sia, partner=partner, **terms)


def voiced_clip(monkeypatch, world, model, day=date(2026, 10, 5)):
    label, partner, a, b, sia = world
    clip = ClipFactory(
        label=label, partner=partner, status="queued", voice_model=model,
        generated_at=timezone.make_aware(datetime(day.year, day.month, day.day, 12)),
    )  # fmt: skip
    engine_answer(monkeypatch, [a, b], [(0, 0.6, "verbatim", None), (1, 0.4, "verbatim", None)])
    clip_attribute(clip=clip)
    return clip


def test_a_voice_model_needs_the_party_voice_consent(world):
    label, partner, a, b, sia = world
    with pytest.raises(ConsentInvalid, match="voice"):
        voice_model_register(
            label=label,
            party=sia,
            partner=partner,
            name="x",
            pool_share="0.2",
            effective_from=date(2026, 1, 1),
        )
    assert registered(world).pool_share == Decimal("0.2")
    with pytest.raises(CommandError, match="voice_consent_required"):
        call_command(
            "voice_model_register", "--label", label.slug, "--party", str(PartyFactory(label=label).pk),
            "--partner", partner.slug, "--name", "y", "--pool-share", "0.1", "--from", "2026-01-01",
        )  # fmt: skip


def test_a_declared_voice_model_pays_its_line_and_reconciles(monkeypatch, world):
    """Revenue 100 at rate 0.5: pool 50. Voice 0.2 of the pool: Sia 10.00. The rest, 40.00, follows the
    attribution: A 0.6 -> Ann 24.00, B 0.4 -> Ben 16.00. 10 + 24 + 16 = 50, what the partner owes."""
    label, partner, a, b, sia = world
    clip = voiced_clip(monkeypatch, world, registered(world))
    plain = voiced_clip(monkeypatch, world, None)
    usage(clip, "100.00", day=date(2026, 10, 15))
    usage(plain, "100.00", day=date(2026, 10, 15))
    period_close(label=label, period="2026-10")
    balances = {s.party.name: s.closing_balance for s in Statement.objects.filter(period__label=label)}
    assert balances == {
        "Sia": Decimal("10.00"),
        "Ann": Decimal("24.00") + Decimal("30.00"),
        "Ben": Decimal("16.00") + Decimal("20.00"),
    }
    voice_lines = StatementLine.objects.filter(kind=StatementLineKind.VOICE)
    assert [(line.statement.party.name, line.clip_id) for line in voice_lines] == [("Sia", clip.pk)]
    assert period_reconcile(label=label, period="2026-10").ok


def test_a_withdrawn_voice_consent_holds_the_clip(monkeypatch, world):
    label, partner, a, b, sia = world
    model = registered(world)
    consent_set(label=label, party=sia, use="voice", state="opt_out", effective_from=date(2026, 10, 1))
    clip = voiced_clip(monkeypatch, world, model)
    use = UnlicensedUse.objects.get()
    assert (use.party, use.use, use.reason, use.recording) == (sia, "voice", "consent_opt_out", None)
    usage(clip, "100.00", day=date(2026, 10, 15))
    period_close(label=label, period="2026-10")
    # Sia's only money was the held voice share (0.2 of the pool 50.00): a statement, zero payable, held 10.
    statement = Statement.objects.get(period__label=label, party=sia)
    assert statement.closing_balance == 0
    (held,) = statement_held(statement=statement)
    assert (held.right_type, held.amount, held.outside_licence) == ("voice", Decimal("10"), True)
    assert not StatementLine.objects.filter(kind=StatementLineKind.VOICE).exists()
    assert period_reconcile(label=label, period="2026-10").ok


# --- flat rate per use ---------------------------------------------------------------------------------


def flat(world, rate="0.002", **changes):
    return registered(world, pool_share=None, rate_per_use=rate, **changes)


def test_a_flat_rate_voice_model_is_paid_per_use_on_top_of_the_pool_and_reconciles(monkeypatch, world):
    """Revenue 100.00 over 1,000 plays at rate 0.5: pool 50.00, all of it following the attribution: A 0.6
    -> Ann 30.00, B 0.4 -> Ben 20.00. The voice model's flat rate, 0.002 EUR per use: 1,000 x 0.002 =
    2.00 to Sia as a voice line, owed by the partner on top of the pool: it owes 52.00."""
    label, partner, a, b, sia = world
    model = flat(world)
    assert (model.rate_per_use, model.rate_currency, model.pool_share) == (Decimal("0.002"), "EUR", None)
    assert model.terms == "0.002 EUR per use"
    clip = voiced_clip(monkeypatch, world, model)
    usage(clip, "100.00", day=date(2026, 10, 15), count_=1000)
    period_close(label=label, period="2026-10")
    balances = {s.party.name: s.closing_balance for s in Statement.objects.filter(period__label=label)}
    assert balances == {"Sia": Decimal("2.00"), "Ann": Decimal("30.00"), "Ben": Decimal("20.00")}
    (line,) = StatementLine.objects.filter(kind=StatementLineKind.VOICE)
    assert (line.statement.party, line.clip_id, line.usage_count, line.amount_exact) == (
        sia, clip.pk, 1000, Decimal("2.00"),
    )  # fmt: skip
    settlement = PartnerSettlement.objects.get(period__label=label)
    assert (settlement.pool_exact, settlement.voice_fees_exact, settlement.amount_due) == (
        Decimal("50"), Decimal("2"), Decimal("52.00"),
    )  # fmt: skip
    report = period_reconcile(label=label, period="2026-10")
    assert report.ok, report.problems
    assert report.currencies[0].receivable == Decimal("52.00")
    summary = Period.objects.get(label=label).summary["currencies"]["EUR"]
    assert Decimal(summary["voice_fees_exact"]) == Decimal("2")


def test_a_flat_rate_in_another_currency_is_converted_with_the_period_rate(monkeypatch, world):
    """0.01 USD per use x 500 uses = 5.00 USD; at 1 EUR = 1.25 USD that is 4.00 EUR in the EUR deal."""
    label, partner, a, b, sia = world
    clip = voiced_clip(monkeypatch, world, flat(world, rate="0.01", rate_currency="usd"))
    fx_rate_set(period="2026-10", base="EUR", quote="USD", rate=Decimal("1.25"), source="test")
    usage(clip, "10.00", day=date(2026, 10, 15), count_=500)
    period_close(label=label, period="2026-10")
    (line,) = StatementLine.objects.filter(kind=StatementLineKind.VOICE)
    assert (line.currency, line.amount_exact) == ("EUR", Decimal("4.00"))
    assert period_reconcile(label=label, period="2026-10").ok


def test_a_flat_fee_is_held_until_the_clip_is_attributed_then_paid_to_the_voice_party(monkeypatch, world):
    """Sep: the clip has no attribution yet: its pool 50.00 and the fee 2.00 are held (52.00 in suspense).
    Oct: attributed (A 0.6, B 0.4): of the 52.00 released, the fee's part (2.00) goes to Sia as a voice
    line, the rest (50.00) follows the attribution as adjustments: Ann 30.00, Ben 20.00."""
    label, partner, a, b, sia = world
    model = flat(world)
    clip = ClipFactory(label=label, partner=partner, voice_model=model, status="queued")
    usage(clip, "100.00", day=date(2026, 9, 15), count_=1000)
    period_close(label=label, period="2026-09")
    held = ClipAllocation.objects.get()
    assert (held.held_amount, held.voice_held_exact, held.payable) == (Decimal("52.00"), Decimal("2"), False)
    assert period_reconcile(label=label, period="2026-09").ok

    engine_answer(monkeypatch, [a, b], [(0, 0.6, "verbatim", None), (1, 0.4, "verbatim", None)])
    clip_attribute(clip=clip)
    period_close(label=label, period="2026-10")
    october = {
        s.party.name: s.closing_balance for s in Statement.objects.filter(period__month=date(2026, 10, 1))
    }
    assert october == {"Sia": Decimal("2.00"), "Ann": Decimal("30.00"), "Ben": Decimal("20.00")}
    (line,) = StatementLine.objects.filter(kind=StatementLineKind.VOICE)
    assert line.statement.party == sia and "corrects 2026-09" in line.reference
    assert account_balance_by_code(code=f"label:{label.pk}:suspense", currency="EUR") == 0
    assert period_reconcile(label=label, period="2026-10").ok


@pytest.mark.parametrize(
    ("terms", "code"),
    [
        ({}, "voice_terms_invalid"),  # neither kind of terms
        ({"pool_share": "0.2", "rate_per_use": "0.002"}, "voice_terms_invalid"),  # both
        ({"pool_share": "1.5"}, "voice_terms_invalid"),
        ({"rate_per_use": "0"}, "voice_rate_invalid"),
        ({"rate_per_use": "-0.01"}, "voice_rate_invalid"),
        ({"rate_per_use": "NaN"}, "voice_rate_invalid"),
        ({"rate_per_use": "abc"}, "voice_rate_invalid"),
        ({"rate_per_use": "0.0000001"}, "voice_rate_invalid"),  # below a millionth
        ({"rate_per_use": "10000000"}, "voice_rate_invalid"),  # does not fit the column
        ({"rate_per_use": "0.01", "rate_currency": "euro"}, "voice_rate_invalid"),
    ],
)
def test_bad_voice_terms_are_refused_with_a_code_and_nothing_written(world, terms, code):
    label, partner, a, b, sia = world
    consent_set(label=label, party=sia, use="voice", state="opt_in", effective_from=date(2026, 1, 1))
    with pytest.raises(ConsentInvalid) as caught:
        voice_model_register(
            label=label, party=sia, partner=partner, name="x", effective_from=date(2026, 1, 1), **terms
        )
    assert caught.value.code == code
    assert not VoiceModel.objects.exists()


def test_the_party_page_registers_a_flat_rate_and_answers_400_with_the_code_for_bad_terms(client, world):
    label, partner, a, b, sia = world
    consent_set(label=label, party=sia, use="voice", state="opt_in", effective_from=date(2026, 1, 1))
    manager = UserFactory()
    MembershipFactory(user=manager, label=label, role=Role.RIGHTS_MANAGER)
    client.force_login(manager)
    url = reverse("catalog:party-detail", args=[sia.pk])
    form = {"form": "voice_model", "name": "Sia flat", "partner": partner.pk, "effective_from": "2026-02-01"}
    bad = client.post(url, {**form, "terms": "rate_per_use", "rate_per_use": "-1", "rate_currency": "EUR"})
    assert bad.status_code == 400
    assert b'data-error-code="voice_rate_invalid"' in bad.content
    assert not VoiceModel.objects.exists()
    good = client.post(
        url, {**form, "terms": "rate_per_use", "rate_per_use": "0.0025", "rate_currency": "EUR"}
    )
    assert good.status_code == 302
    model = VoiceModel.objects.get()
    assert (model.rate_per_use, model.rate_currency, model.pool_share) == (Decimal("0.0025"), "EUR", None)
    assert b"0.0025 EUR per use" in client.get(url).content


def test_the_command_registers_a_flat_rate(world):
    label, partner, a, b, sia = world
    consent_set(label=label, party=sia, use="voice", state="opt_in", effective_from=date(2026, 1, 1))
    call_command(
        "voice_model_register", "--label", label.slug, "--party", str(sia.pk), "--partner", partner.slug,
        "--name", "Sia flat", "--rate-per-use", "0.003", "--currency", "USD", "--from", "2026-01-01",
    )  # fmt: skip
    assert VoiceModel.objects.get().terms == "0.003 USD per use"
    with pytest.raises(CommandError, match="voice_rate_invalid"):
        call_command(
            "voice_model_register", "--label", label.slug, "--party", str(sia.pk), "--partner", partner.slug,
            "--name", "bad", "--rate-per-use", "0", "--from", "2026-01-01",
        )  # fmt: skip


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    lines=st.lists(
        st.tuples(
            st.integers(0, 50_000), st.decimals(min_value=0, max_value=Decimal("999.999999"), places=6)
        ),
        min_size=1,
        max_size=4,
    ),
    rate=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("0.05"), places=6),
    share_model=st.booleans(),
)
def test_property_a_voice_clip_reconciles_and_the_voice_line_is_its_terms(lines, rate, share_model):
    """Whatever the plays, revenues and rate: the ledger balances and reconciles to the cent, and the voice
    line is exactly rate x plays (a flat rate) or the pool share of the pool (a share)."""
    label, partner = LabelFactory(), PartnerFactory()
    deal(label, partner, rate="0.5")
    sia, ann = PartyFactory(label=label), PartyFactory(label=label)
    recording = RecordingFactory(label=label)
    split_for(recording, {ann: "1"})
    consent_set(label=label, party=sia, use="voice", state="opt_in", effective_from=date(2026, 1, 1))
    terms = {"pool_share": "0.3"} if share_model else {"rate_per_use": rate}
    model = voice_model_register(
        label=label, party=sia, partner=partner, name="m", effective_from=date(2026, 1, 1), **terms
    )
    clip = ClipFactory(label=label, partner=partner, voice_model=model)
    attribute(clip, {recording: "1"})
    for n, (count, revenue) in enumerate(lines):
        usage(clip, str(revenue), day=date(2026, 10, 1 + n), count_=count)
    period_close(label=label, period="2026-10")
    for txn in Transaction.objects.filter(key__startswith=f"royalties:close:{label.pk}:"):
        assert transaction_is_balanced(txn=txn)
    report = period_reconcile(label=label, period="2026-10")
    assert report.ok, report.problems
    voice = sum(
        StatementLine.objects.filter(kind=StatementLineKind.VOICE).filter(statement__period__label=label)
        .values_list("amount_exact", flat=True),
        Decimal(0),
    )  # fmt: skip
    pool = sum((revenue for _, revenue in lines), Decimal(0)) * Decimal("0.5")
    expected = pool * Decimal("0.3") if share_model else rate * sum(count for count, _ in lines)
    assert abs(voice - expected) < Decimal("0.000001")
