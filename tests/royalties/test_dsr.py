"""royalties.dsr: DDEX DSR flat files streamed into usage lines (SQLite fallback and PostgreSQL COPY)."""

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from royalties.dsr import dsr_ingest, looks_like_dsr
from royalties.errors import DsrConflict, DsrInvalid
from royalties.models import DsrMessage, UsageLine
from tests.factories import LabelFactory
from tests.royalties.factories import ClipFactory

pytestmark = pytest.mark.django_db
SAMPLE = next((Path(__file__).resolve().parents[2] / "examples" / "ddex" / "dsr").glob("DSR_*.tsv"))
HEAD = "HEAD\tdsrf/30\tUgcProfile\t1.2\t{mid}\t2026-11-02T08:00:00Z\t1\t1\t2026-10-01\t2026-10-31\tPADPIDA1\tMelodia"
SY = "SY02.02\t1\t\t\tAdvertisementSupportedModel\tStream\tGB\tGenerated-music\t100\t\tEUR\t10\t\t\t\t\t\t\tMusic"


@pytest.fixture
def clips(label, partner):
    return {
        "gen-0001": ClipFactory(label=label, partner=partner, external_id="gen-0001"),
        # Named in the DSR by its ISRC only (the partner registered one for it).
        "isrc": ClipFactory(label=label, partner=partner, external_id="clip-77", extra={"isrc": "QZ-ES7-26-00102"}),
    }  # fmt: skip


def ingest(partner, text: str | bytes, **kwargs):
    data = text.encode() if isinstance(text, str) else text
    return dsr_ingest(partner=partner, source=io.BytesIO(data), **kwargs)


def ugc(records: list[str], *, mid="M-1", foot: str | None = None) -> str:
    """A UGC-profile DSR around the given block records (its FOOT counted unless given)."""
    lines = [HEAD.format(mid=mid), SY, *records]
    blocks = len({r.split("\t")[1] for r in records if not r.startswith("#")})
    foot = foot or f"FOOT\t{len(lines) + 1}\t{len(lines) + 1}\t1\t{blocks}\t{blocks}"
    return "\n".join([*lines, foot]) + "\n"


def lines_now() -> list[tuple]:
    return sorted(
        UsageLine.objects.values_list(
            "partner_line_id", "clip_id", "usage_date", "usage_count", "net_revenue", "currency", "territory",
            "line_type",
        )
    )  # fmt: skip


def test_detects_a_dsr_by_its_content():
    assert looks_like_dsr(SAMPLE.read_bytes()[:64])
    assert looks_like_dsr(b"\xef\xbb\xbfHEAD\tdsrf/30")
    assert not looks_like_dsr(b"HEAD,R-1,2026-10-01,2026-10-31,EUR\n")


def test_sample_basic_audio_dsr_becomes_usage_lines(clips, partner):
    with SAMPLE.open("rb") as source:
        result = dsr_ingest(partner=partner, source=source)
    assert (result.usage_records, result.accepted, result.rejected) == (4, 4, 0), result.rejections
    one, two = clips["gen-0001"].pk, clips["isrc"].pk
    # The summary's NetRevenue allocated pro rata to NumberOfStreams: DE 36 EUR over 3,000, FR 4 over 1,000.
    assert lines_now() == [
        ("STEMMA-EX-DSR-0001:ST-0001", one, date(2026, 10, 1), 2000, Decimal("24"), "EUR", "DE", "usage"),
        ("STEMMA-EX-DSR-0001:ST-0002", one, date(2026, 10, 1), 600, Decimal("2.4"), "EUR", "FR", "usage"),
        ("STEMMA-EX-DSR-0001:ST-0003", two, date(2026, 10, 1), 1000, Decimal("12"), "EUR", "DE", "usage"),
        ("STEMMA-EX-DSR-0001:ST-0004", two, date(2026, 10, 1), 400, Decimal("1.6"), "EUR", "FR", "usage"),
    ]
    message = DsrMessage.objects.get()
    assert (message.message_id, message.profile, message.accepted_count) == (
        "STEMMA-EX-DSR-0001",
        "BasicAudioProfile",
        4,
    )


def test_a_replayed_message_adds_nothing_and_another_file_under_its_id_is_refused(clips, partner):
    first = ingest(partner, SAMPLE.read_bytes())
    before = lines_now()
    again = ingest(partner, SAMPLE.read_bytes())
    assert again.replayed and again.accepted == 0 and again.duplicates == first.accepted
    assert lines_now() == before
    changed = SAMPLE.read_text().replace("\t2000\t", "\t2100\t")
    with pytest.raises(DsrConflict):
        ingest(partner, changed)
    assert lines_now() == before and DsrMessage.objects.count() == 1


def test_ugc_records_carry_their_own_revenue_and_dates(clips, partner):
    text = ugc([
        "AS01.01\t1\tR1\tgen-0001\t\tA song\t\tMelodia AI\t\tPT1M\tSoundRecording",
        "SU03.02\t1\tT1\t1\tgen-0001\t7810\t2.5\t2026-10-05\t2026-10-05\tMusic\ttrue",
        "SU03.02\t1\tT2\t1\tgen-0001\t3\t-0.5\t20261006\t20261006\tMusic\ttrue",
    ])  # fmt: skip
    result = ingest(partner, text)
    assert result.accepted == 2, result.rejections
    assert lines_now() == [
        ("M-1:T1", clips["gen-0001"].pk, date(2026, 10, 5), 7810, Decimal("2.5"), "EUR", "GB", "usage"),
        ("M-1:T2", clips["gen-0001"].pk, date(2026, 10, 6), 3, Decimal("-0.5"), "EUR", "GB", "adjustment"),
    ]


def test_rejected_records_are_listed_with_record_number_and_reason(clips, partner):
    text = ugc([
        "AS01.01\t1\tR1\tgen-0001\t\tA song\t\tMelodia AI\t\tPT1M\tSoundRecording",
        "SU03.02\t1\tT1\t1\tgen-0001\t10\t1.0\t2026-10-05",  # record 4: fine
        "SU03.02\t1\tT2\t9\tgen-0001\t10\t1.0\t2026-10-05",  # 5: no summary 9
        "SU03.02\t1\tT3\t1\tgen-0001\tmany\t1.0\t2026-10-05",  # 6: count
        "SU03.02\t1\tT4\t1\tgen-0001\t10\tlots\t2026-10-05",  # 7: revenue
        "SU03.02\t1\tT5\t1\tgen-0001\t10\t1.0\t2026-12-05",  # 8: outside the period
        "SU03.02\t1\tT6\t1\tnobody\t10\t1.0\t2026-10-05",  # 9: no such clip (found by the SQL pass)
        "SU04.01\t1\tT7\t1",  # 10: a usage record type Stemma does not read
        "SU03.02\t1\tT8\t1\tgen-0001\t2.5\t1.0\t2026-10-05",  # 11: a fractional count
        "SU03.02\t1\tT9\t1\tgen-0001\t10\t1.1234567\t2026-10-05",  # 12: too precise
    ])  # fmt: skip
    result = ingest(partner, text)
    assert result.accepted == 1 and result.rejected == 8
    codes = {r["record"]: r["code"] for r in result.rejections}
    assert codes == {
        5: "dsr_summary_unknown", 6: "usage_count_invalid", 7: "revenue_invalid", 8: "date_out_of_range",
        9: "clip_unknown", 10: "dsr_record_unsupported", 11: "usage_count_invalid", 12: "revenue_precision",
    }  # fmt: skip
    assert all(r["reason"] for r in result.rejections)
    assert [r["line_id"] for r in result.rejections][0] == "M-1:T2"


def test_numbers_with_absurd_exponents_are_rejected_not_crashing(clips, partner):
    text = ugc([
        "AS01.01\t1\tR1\tgen-0001\t\tA song\t\tMelodia AI\t\tPT1M\tSoundRecording",
        "SU03.02\t1\tT1\t1\tgen-0001\t1E+5000\t1.0\t2026-10-05",  # record 4: count
        "SU03.02\t1\tT2\t1\tgen-0001\t10\t1E+5000\t2026-10-05",  # 5: revenue
        "SU03.02\t1\tT3\t1\tgen-0001\t1E+2\t1.0\t2026-10-05",  # 6: fine, 100 usages
    ])  # fmt: skip
    result = ingest(partner, text)
    assert result.accepted == 1
    assert {r["record"]: r["code"] for r in result.rejections} == {
        4: "usage_count_invalid",
        5: "revenue_invalid",
    }


def test_basic_audio_usage_names_its_resource_within_the_block(clips, partner):
    text = SAMPLE.read_text().replace("SU02.02\t2\t1\tST-0003\t\tR1", "SU02.02\t2\t1\tST-0003\t\tR7")
    result = ingest(partner, text)
    assert [(r["record"], r["code"]) for r in result.rejections] == [(12, "dsr_resource_unknown")]


def test_with_a_label_only_that_labels_clips_are_found(clips, partner):
    other = LabelFactory(slug="other")
    result = ingest(partner, SAMPLE.read_bytes(), label=other)
    assert result.accepted == 0 and {r["code"] for r in result.rejections} == {"clip_unknown"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda t: t.replace("HEAD\t", "HEDA\t", 1), "first record of a DSR must be HEAD"),
        (lambda t: t.replace("BasicAudioProfile", "RadioBroadcastProfile", 1), "Profile"),
        (lambda t: t.replace("2026-10-31", "2026-09-31", 1), "UsageEndDate"),
        (lambda t: t[: t.index("FOOT")], "without a FOOT record"),
        (lambda t: t.rsplit("\n", 3)[0] + "\n" + t.rsplit("\n", 2)[1] + "\n", "FOOT record counts"),
        (lambda t: t.replace("FOOT\t14", "FOOT\t13"), "FOOT record counts"),
        (lambda t: t + "SU02.02\t2\t1\tST-0009\t\tR1\ttrue\t5\n", "follows the FOOT"),
        (lambda t: t.replace("Night Drive", "Night\x00Drive"), "NUL"),
        (lambda t: t.replace("Night Drive", "N" * (1 << 20)), "longer than"),
    ],
    ids=[
        "no-head",
        "profile",
        "dates",
        "truncated",
        "spliced",
        "foot-lines",
        "after-foot",
        "nul",
        "huge-record",
    ],
)
def test_malformed_files_are_refused_whole_and_change_nothing(clips, partner, mutate, message):
    with pytest.raises(DsrInvalid, match=message):
        ingest(partner, mutate(SAMPLE.read_text()))
    assert not UsageLine.objects.exists() and not DsrMessage.objects.exists()


def test_non_utf8_is_refused(clips, partner):
    with pytest.raises(DsrInvalid, match="UTF-8"):
        ingest(partner, SAMPLE.read_bytes().replace(b"Night Drive", b"Night \xff Drive"))
    assert not UsageLine.objects.exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=1, max_value=len(SAMPLE.read_bytes()) - 2))
def test_a_file_cut_anywhere_writes_nothing(clips, partner, cut):
    data = SAMPLE.read_bytes()[:cut]
    try:
        ingest(partner, data)
    except DsrInvalid:
        pass
    else:  # only a cut inside the FOOT record's last cell can still read as a whole file
        assert data.count(b"\n") == SAMPLE.read_bytes().count(b"\n") - 1
    assert UsageLine.objects.count() in (0, 4)
    UsageLine.objects.all().delete()
    DsrMessage.objects.all().delete()


def test_command_ingests_and_lists_rejections(clips, partner, tmp_path, capsys):
    call_command("dsr_ingest", "--partner", partner.slug, str(SAMPLE))
    assert "4 accepted" in capsys.readouterr().out
    call_command("dsr_ingest", "--partner", partner.slug, str(SAMPLE))
    assert "replay" in capsys.readouterr().out
    bad = tmp_path / "bad.tsv"
    bad.write_text(SAMPLE.read_text().replace("STEMMA-EX-DSR-0001", "STEMMA-EX-DSR-0002")[:-20])
    with pytest.raises(CommandError, match="dsr_invalid"):
        call_command("dsr_ingest", "--partner", partner.slug, str(bad))
    with pytest.raises(CommandError, match="no partner"):
        call_command("dsr_ingest", "--partner", "nobody", str(SAMPLE))


@pytest.mark.postgres
def test_copy_path_matches_the_fallback_rules(clips, partner):
    """On PostgreSQL the records go through COPY; the same sample gives the same lines."""
    result = ingest(partner, SAMPLE.read_bytes())
    assert result.accepted == 4 and len(lines_now()) == 4


@pytest.mark.postgres
def test_line_ids_taken_or_repeated_are_duplicates_on_the_copy_path(clips, partner):
    """The insert that expects a DSR's line ids to be new falls back to ON CONFLICT: the same outcome."""
    from royalties.ingest import UsageLineInput, usage_ingest_copy

    clip = clips["gen-0001"].pk
    usage_ingest_copy(partner=partner, lines=[
        UsageLineInput("M-1:T2", date(2026, 10, 5), 1, Decimal("1"), "EUR", clip_id=clip),
    ])  # fmt: skip
    text = ugc([
        "AS01.01\t1\tR1\tgen-0001\t\tA song\t\tMelodia AI\t\tPT1M\tSoundRecording",
        "SU03.02\t1\tT1\t1\tgen-0001\t10\t1.0\t2026-10-05",
        "SU03.02\t1\tT1\t1\tgen-0001\t10\t1.0\t2026-10-05",  # repeated within the file
        "SU03.02\t1\tT2\t1\tgen-0001\t10\t1.0\t2026-10-05",  # already stored
        "SU03.02\t1\tT3\t1\tgen-0001\t10\t1.0\t2026-10-05",
    ])  # fmt: skip
    result = ingest(partner, text)
    assert (result.accepted, result.duplicates, result.rejected) == (2, 2, 0)
    assert [line[0] for line in lines_now()] == ["M-1:T1", "M-1:T2", "M-1:T3"]


@pytest.mark.postgres
def test_a_backslash_in_a_cell_reaches_the_line_as_written(clips, partner):
    """The DSR's rows are written to COPY as text by royalties.dsr itself: a backslash must be escaped."""
    text = ugc([
        "AS01.01\t1\tR1\tgen-0001\t\tA song\t\tMelodia AI\t\tPT1M\tSoundRecording",
        "SU03.02\t1\tT\\1\t1\tgen-0001\t10\t1.0\t2026-10-05",
    ])  # fmt: skip
    assert ingest(partner, text).accepted == 1
    assert [line[0] for line in lines_now()] == ["M-1:T\\1"]
