"""Statement PDF and CSV: label and payee addresses, page n of m, ISRC per line, amounts in the currency's
minor unit with the exact total, the withholding rate as a percentage, and a stated (not silent) cap."""

from datetime import date
from decimal import Decimal

import pytest
from reportlab import rl_config

from royalties import exports
from royalties.models import Statement, StatementLine
from royalties.services import label_royalty_settings_set, payee_profile_set, period_close
from tests.factories import LabelFactory, PartnerFactory, PartyFactory, RecordingFactory, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def statement():
    label, partner = LabelFactory(name="North Records"), PartnerFactory()
    recordings = [
        RecordingFactory(label=label, title=f"Song {n}", display_artist="Mara Vale") for n in range(3)
    ]
    ann = PartyFactory(label=label, name="Ann Writer")
    for recording in recordings:
        split_for(recording, {ann: "1"})
    deal(label, partner)
    label_royalty_settings_set(label=label, payout_threshold=Decimal("0.00"), address="1 Quay Street\nDublin")
    payee_profile_set(party=ann, currency="EUR", withholding_rate=Decimal("0.1"), address="7 Rue Haute\nLyon")
    for n, recording in enumerate(recordings):
        clip = ClipFactory(
            label=label, partner=partner, external_id=f"a-very-long-clip-identifier-{n:04d}-xyz"
        )
        attribute(clip, {recording: "1"})
        usage(clip, f"{1234.567891 + n:.6f}", day=date(2026, 9, 10))
    period_close(label=label, period="2026-09")
    return Statement.objects.get(party=ann)


def pdf_text(statement, monkeypatch) -> bytes:
    monkeypatch.setattr(rl_config, "pageCompression", 0)  # the text stays readable in the bytes
    return exports.statement_pdf(statement)


def test_pdf_has_addresses_page_numbers_isrc_minor_units_and_rate(statement, monkeypatch):
    pdf = pdf_text(statement, monkeypatch)
    for text in (b"1 Quay Street", b"7 Rue Haute", b"page 1 of 1", b"rate 10.00 %", b"Mara"):
        assert text in pdf, text
    line = StatementLine.objects.filter(statement=statement, recording__isnull=False).select_related(
        "recording"
    )[0]
    assert line.recording.isrc.encode() in pdf
    assert f"{line.amount_exact:,.2f}".encode() in pdf  # two places, not six
    assert b"exactly" in pdf and b"first" not in pdf


def test_pdf_states_its_cap(statement, monkeypatch):
    monkeypatch.setattr(exports, "PDF_MAX_LINES", 2)
    pdf = pdf_text(statement, monkeypatch)
    assert b"lists the first 2 of" in pdf and b"CSV" in pdf


def test_csv_has_addresses_isrc_artist_and_both_amounts(statement):
    text = exports.statement_csv(statement)
    assert 'label_address,"1 Quay Street\nDublin"' in text and 'payee_address,"7 Rue Haute\nLyon"' in text
    assert "payout_threshold,0.00" in text and "Mara Vale" in text
    line = StatementLine.objects.filter(statement=statement, recording__isnull=False).select_related(
        "recording"
    )[0]
    assert f",{line.recording.isrc}," in text
    assert (
        f",{line.amount_exact.quantize(Decimal('0.01'))},{line.amount_exact.quantize(Decimal('0.000001'))},"
        in text
    )
    assert "rate 10.00 %" in text
