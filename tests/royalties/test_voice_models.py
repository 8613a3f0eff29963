"""Licensed voice models: registered only with voice consent, declared on a clip, paid as their own line
kind through the close, reconciled; an undeclared clip pays no voice share."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from catalog.consent import consent_set
from catalog.errors import ConsentInvalid
from catalog.voice import voice_model_register
from fingerprinting.models import UnlicensedUse
from fingerprinting.services import clip_attribute
from royalties.models import Statement, StatementLine, StatementLineKind
from royalties.reconcile import period_reconcile
from royalties.services import period_close
from tests.factories import LabelFactory, PartnerFactory, PartyFactory, RecordingFactory, split_for
from tests.fingerprinting.test_share_rights import engine_answer
from tests.royalties.factories import ClipFactory, deal, usage

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
    assert not Statement.objects.filter(period__label=label, party=sia).exists()
    assert not StatementLine.objects.filter(kind=StatementLineKind.VOICE).exists()
    assert period_reconcile(label=label, period="2026-10").ok
