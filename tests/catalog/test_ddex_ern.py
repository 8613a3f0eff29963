"""DDEX ERN deliveries (catalog.ddex): the samples in examples/ddex end to end, re-delivery, update,
takedown, per-element errors with MessageId, XPath and line, --skip-invalid, and the command."""

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.ddex.batch import BatchInvalid, batch_messages
from catalog.ddex.ingest import ddex_import
from catalog.models import AuditEvent, DdexMessage, Party, PartyKind, Recording, RecordingStatus, Split, Work
from fingerprinting.models import IndexVersion
from tests.factories import LabelFactory

pytestmark = pytest.mark.django_db

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ddex"
ERN43 = EXAMPLES / "ern43"
ERN38 = EXAMPLES / "ern38"


def run(label, batch: Path, **kwargs):
    return ddex_import(label=label, paths=batch_messages(batch), root=batch, **kwargs)


def shares(recording: Recording, right_type: str, start: date) -> dict[str, Decimal]:
    split = Split.objects.get(recording=recording, right_type=right_type, effective_from=start)
    return {s.party.name: s.share for s in split.shares.select_related("party")}


def catalog_state(label) -> tuple:
    """Everything an import can change, to compare before and after a re-delivery."""
    return (
        sorted(Recording.objects.filter(label=label).values_list("isrc", "title", "display_artist",
                                                                  "duration_seconds", "audio_sha256", "is_active")),
        sorted(Party.objects.filter(label=label).values_list("name", "kind", "ipi", "isni")),
        sorted(Split.objects.filter(recording__label=label).values_list("recording__isrc", "right_type",
                                                                         "effective_from")),
        sorted(Work.objects.filter(label=label).values_list("iswc", "title")),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ ERN 4.3


def test_ern43_release_imports_recordings_works_parties_splits_and_indexed_audio(
    django_capture_on_commit_callbacks,
):
    label = LabelFactory()
    with django_capture_on_commit_callbacks(execute=True):
        report = run(label, ERN43 / "batch-20261101090000")
    assert report.ok and report.written, report.problems
    assert (report.applied, report.recordings_created, report.splits_created, report.audio_stored) == (
        1,
        2,
        4,
        2,
    )

    one = Recording.objects.get(label=label, isrc="QZES72600001")
    two = Recording.objects.get(label=label, isrc="QZES72600002")
    assert (one.title, one.display_artist, one.duration_seconds) == ("Harbour Lights", "Anna Vale", 12.0)
    assert two.title == "Salt and Cedar"
    # Audio stored through the catalog service, hash-checked, then indexed after the commit.
    assert one.status == two.status == RecordingStatus.INDEXED
    assert IndexVersion.objects.filter(label=label).exists()
    # Works with their ISWC; writers and publishers as parties, with IPI/ISNI and kinds from their roles.
    assert sorted(Work.objects.filter(label=label).values_list("iswc", flat=True)) == [
        "T1012345672",
        "T1012345683",
    ]
    assert one.works.get().iswc == "T1012345672"
    parties = {p.name: p for p in Party.objects.filter(label=label)}
    assert parties["Anna Vale"].isni == "0000000123456789"
    assert parties["Marco Rey"].ipi == "00123456790" and parties["Marco Rey"].kind == PartyKind.WRITER
    assert parties["Harbour Music Publishing"].kind == PartyKind.PUBLISHER
    assert parties["Northwind Records"].kind == PartyKind.RIGHTS_HOLDER
    # Splits from the rights controllers' percentages, from the deal's start date.
    start = date(2026, 11, 20)
    assert shares(one, "master", start) == {"Northwind Records": Decimal("0.8"), "Anna Vale": Decimal("0.2")}
    assert shares(one, "publishing", start) == {
        "Harbour Music Publishing": Decimal("0.5"), "Marco Rey": Decimal("0.25"), "Lena Ost": Decimal("0.25"),
    }  # fmt: skip
    assert shares(two, "master", start) == {"Northwind Records": Decimal(1)}
    message = DdexMessage.objects.get(label=label)
    assert (message.message_id, message.ern_version, message.recordings) == ("STEMMA-EX-43-0001", "4.3", 2)
    assert AuditEvent.objects.filter(label=label, action="catalog.ddex_applied").exists()


def test_ern43_redelivery_changes_nothing():
    label = LabelFactory()
    assert run(label, ERN43 / "batch-20261101090000").ok
    before = catalog_state(label)
    report = run(label, ERN43 / "batch-20261101090000")
    assert report.ok and report.redelivered == 1 and report.applied == 0
    assert catalog_state(label) == before


def test_ern43_same_content_under_a_new_message_id_changes_nothing(tmp_path):
    label = LabelFactory()
    assert run(label, ERN43 / "batch-20261101090000").ok
    before = catalog_state(label)
    batch = tmp_path / "again"
    shutil.copytree(ERN43 / "batch-20261101090000", batch)
    message = batch / "R0001" / "R0001.xml"
    message.write_text(message.read_text().replace("STEMMA-EX-43-0001", "STEMMA-EX-43-0001-RESENT"))
    report = run(label, batch)
    assert report.ok and report.applied == 1
    assert (report.recordings_created, report.recordings_updated, report.splits_created) == (0, 0, 0)
    assert catalog_state(label) == before


def test_ern43_update_makes_a_new_split_version_from_its_date_and_keeps_the_old():
    label = LabelFactory()
    run(label, ERN43 / "batch-20261101090000")
    old = Split.objects.get(recording__isrc="QZES72600001", right_type="master")
    old_shares = list(old.shares.values_list("party__name", "share"))
    report = run(label, ERN43 / "batch-20270110090000")
    assert report.ok, report.problems
    assert (report.splits_created, report.recordings_updated) == (1, 1)
    one = Recording.objects.get(label=label, isrc="QZES72600001")
    # The update's message date (its deal started before the version in force).
    assert shares(one, "master", date(2027, 1, 10)) == {
        "Northwind Records": Decimal("0.7"), "Anna Vale": Decimal("0.3"),
    }  # fmt: skip
    assert list(Split.objects.get(pk=old.pk).shares.values_list("party__name", "share")) == old_shares
    assert Split.objects.filter(recording=one, right_type="publishing").count() == 1  # unchanged: no version
    assert Recording.objects.get(label=label, isrc="QZES72600002").title == "Salt & Cedar"


def test_ern43_takedown_marks_recordings_inactive_and_keeps_history(tmp_path):
    label = LabelFactory()
    for batch in ("batch-20261101090000", "batch-20270110090000"):
        assert run(label, ERN43 / batch).ok
    splits_before = Split.objects.filter(recording__label=label).count()
    report = run(label, ERN43 / "batch-20270301090000")
    assert report.ok and report.taken_down == 2
    for recording in Recording.objects.filter(label=label):
        assert not recording.is_active and recording.inactive_since is not None
        assert "STEMMA-EX-43-0003" in recording.inactive_reason
        assert recording.audio  # history kept: audio, splits
    assert Split.objects.filter(recording__label=label).count() == splits_before
    assert AuditEvent.objects.filter(label=label, action="recording.taken_down").count() == 2
    # A later message with a deal in force makes them available again.
    batch = tmp_path / "again"
    shutil.copytree(ERN43 / "batch-20270110090000", batch)
    message = batch / "R0001" / "R0001.xml"
    message.write_text(message.read_text().replace("STEMMA-EX-43-0002", "STEMMA-EX-43-0004")
                       .replace("2027-01-10T09:00:00Z", "2027-04-01T09:00:00Z"))  # fmt: skip
    report = run(label, batch)
    assert report.ok and report.reinstated == 2 and report.splits_created == 0
    assert Recording.objects.filter(label=label, is_active=True).count() == 2
    assert AuditEvent.objects.filter(label=label, action="recording.reinstated").count() == 2


def test_an_initial_delivery_without_a_deal_is_not_a_takedown(tmp_path):
    label = LabelFactory()
    batch = tmp_path / "b"
    shutil.copytree(ERN43 / "batch-20270301090000", batch)  # ended deal, but the release is new here
    report = run(label, batch)
    assert report.ok and report.recordings_created == 2 and report.taken_down == 0
    assert Recording.objects.filter(label=label, is_active=True).count() == 2


# ------------------------------------------------------------------------------------------ ERN 3.8


def test_ern38_original_update_takedown(django_capture_on_commit_callbacks):
    label = LabelFactory()
    with django_capture_on_commit_callbacks(execute=True):
        report = run(label, ERN38 / "batch-20261101093000")
    assert report.ok and report.written, report.problems
    assert (report.recordings_created, report.audio_stored) == (2, 2)
    one = Recording.objects.get(label=label, isrc="QZES72600011")
    assert (one.title, one.display_artist, one.duration_seconds) == ("Copper Sky", "Anna Vale", 12.0)
    assert one.status == RecordingStatus.INDEXED
    assert one.works.get().iswc == "T1012345694"
    start = date(2026, 11, 20)
    assert shares(one, "master", start) == {"Northwind Records": Decimal(1)}
    assert shares(one, "publishing", start) == {
        "Harbour Music Publishing": Decimal("0.6"), "Marco Rey": Decimal("0.4"),
    }  # fmt: skip
    assert DdexMessage.objects.get(label=label).update_indicator == "OriginalMessage"

    before = catalog_state(label)
    assert run(label, ERN38 / "batch-20261101093000").redelivered == 1
    assert catalog_state(label) == before

    report = run(label, ERN38 / "batch-20270201093000")  # UpdateMessage: RightsController StartDate
    assert report.ok and report.splits_created == 1, report.problems
    assert shares(one, "master", date(2027, 2, 1)) == {
        "Northwind Records": Decimal("0.9"), "Anna Vale": Decimal("0.1"),
    }  # fmt: skip
    assert shares(one, "master", start) == {"Northwind Records": Decimal(1)}

    report = run(label, ERN38 / "batch-20270301093000")  # DealTerms/TakeDown
    assert report.ok and report.taken_down == 2
    assert not Recording.objects.filter(label=label, is_active=True).exists()


# ---------------------------------------------------------------------------------- errors and safety


def broken_batch(tmp_path: Path, replacements: dict[str, str], source=ERN43 / "batch-20261101090000") -> Path:
    batch = tmp_path / "broken"
    shutil.copytree(source, batch)
    message = batch / "R0001" / "R0001.xml"
    text = message.read_text()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    message.write_text(text)
    return batch


def test_problems_name_message_xpath_and_line_and_nothing_is_written(tmp_path):
    label = LabelFactory()
    batch = broken_batch(tmp_path, {
        "<ISRC>QZES72600002</ISRC>": "<ISRC>NOT-AN-ISRC</ISRC>",
        "<RightSharePercentage>80</RightSharePercentage>": "<RightSharePercentage>85</RightSharePercentage>",
    })  # fmt: skip
    report = run(label, batch)
    assert not report.ok and not report.written
    assert not Recording.objects.filter(label=label).exists()
    assert not DdexMessage.objects.filter(label=label).exists()
    text = (batch / "R0001" / "R0001.xml").read_text().splitlines()
    by_isrc = {p.isrc: p for p in report.problems}
    isrc_problem = by_isrc["NOT-AN-ISRC"]
    assert isrc_problem.message_id == "STEMMA-EX-43-0001" and isrc_problem.file == "R0001/R0001.xml"
    assert isrc_problem.xpath.endswith("SoundRecording[2]/SoundRecordingEdition[1]/ResourceId[1]/ISRC[1]")
    assert "NOT-AN-ISRC" in text[isrc_problem.line - 1]
    share_problem = by_isrc["QZES72600001"]
    assert "sum to 1.05" in share_problem.reason
    assert "ResourceRightsController" in share_problem.xpath and share_problem.line > 0


def test_skip_invalid_imports_the_good_recordings(tmp_path):
    label = LabelFactory()
    batch = broken_batch(tmp_path, {"<ISRC>QZES72600002</ISRC>": "<ISRC>NOT-AN-ISRC</ISRC>"})
    report = run(label, batch, skip_invalid=True)
    assert report.written and len(report.problems) >= 1
    assert list(Recording.objects.filter(label=label).values_list("isrc", flat=True)) == ["QZES72600001"]


def test_a_wrong_hash_rejects_the_recording(tmp_path):
    label = LabelFactory()
    batch = broken_batch(tmp_path, {"76445f1b293c036e23a7dac4755e5b5b": "0" * 32})
    report = run(label, batch)
    (problem,) = report.problems
    assert "does not match its HashSum" in problem.reason and problem.xpath.endswith("File[1]/URI[1]")
    assert not Recording.objects.filter(label=label).exists()


def test_a_declared_size_above_the_limit_is_refused_before_reading(tmp_path):
    label = LabelFactory()
    batch = broken_batch(tmp_path, {"<FileSize>393159</FileSize>": "<FileSize>2147483648</FileSize>"})
    (problem,) = run(label, batch).problems
    assert "FileSize declares 2,147,483,648 bytes" in problem.reason


def test_a_file_uri_outside_the_batch_is_refused(tmp_path):
    label = LabelFactory()
    batch = broken_batch(tmp_path, {"resources/QZES72600001.flac": "../../../etc/passwd"})
    (problem,) = run(label, batch).problems
    assert "outside the batch" in problem.reason


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<NewReleaseMessage xmlns="http://ddex.net/xml/ern/43">&lol9;</NewReleaseMessage>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE NewReleaseMessage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<NewReleaseMessage xmlns="http://ddex.net/xml/ern/43"><MessageHeader><MessageId>&xxe;</MessageId></MessageHeader></NewReleaseMessage>
"""


@pytest.mark.parametrize(
    "content", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"]
)
def test_hostile_xml_is_refused_and_changes_nothing(tmp_path, content):
    label = LabelFactory()
    batch = tmp_path / "hostile"
    batch.mkdir()
    (batch / "BatchComplete_1.xml").write_text("<done/>")
    (batch / "m.xml").write_bytes(content)
    report = run(label, batch)
    (problem,) = report.problems
    assert "refused" in problem.reason and "DTD" in problem.reason and problem.line == 2
    assert not Recording.objects.filter(label=label).exists()


def test_a_message_larger_than_the_limit_is_refused_without_parsing(tmp_path, settings):
    settings.DDEX_MAX_MESSAGE_BYTES = 10_000
    label = LabelFactory()
    batch = tmp_path / "big"
    batch.mkdir()
    (batch / "BatchComplete_1.xml").write_text("<done/>")
    with (batch / "m.xml").open("wb") as handle:  # sparse: declares 2 GB, occupies nothing
        handle.truncate(2 * 1024**3)
    (problem,) = run(label, batch).problems
    assert "2,147,483,648 bytes" in problem.reason


def test_a_batch_without_its_completion_marker_is_not_read(tmp_path):
    batch = tmp_path / "incomplete"
    shutil.copytree(ERN43 / "batch-20261101090000", batch)
    (batch / "BatchComplete_20261101090000.xml").unlink()
    with pytest.raises(BatchInvalid, match="incomplete"):
        batch_messages(batch)


def test_a_test_message_is_validated_and_not_written(tmp_path):
    label = LabelFactory()
    batch = broken_batch(tmp_path, {"<MessageControlType>LiveMessage<": "<MessageControlType>TestMessage<"})
    report = run(label, batch)
    assert report.ok and report.test_messages == 1 and report.applied == 0
    assert not Recording.objects.filter(label=label).exists()


def test_a_message_id_reused_for_another_file_is_an_error(tmp_path):
    label = LabelFactory()
    run(label, ERN43 / "batch-20261101090000")
    batch = broken_batch(tmp_path, {"Harbour Lights</DisplayTitleText>": "Harbour Nights</DisplayTitleText>"})
    (problem,) = run(label, batch).problems
    assert "already applied from another file" in problem.reason


def test_command_imports_a_batch_and_exits_non_zero_on_problems(tmp_path, capsys):
    label = LabelFactory(slug="northwind")
    call_command("ddex_ingest", "--label", "northwind", "--no-progress", str(ERN43 / "batch-20261101090000"))
    assert "1 applied" in capsys.readouterr().out
    assert Recording.objects.filter(label=label).count() == 2
    batch = broken_batch(tmp_path, {
        "<ISRC>QZES72600002</ISRC>": "<ISRC>NOT-AN-ISRC</ISRC>", "STEMMA-EX-43-0001": "STEMMA-EX-43-0009",
    })  # fmt: skip
    errors = tmp_path / "errors.csv"
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command(
            "ddex_ingest", "--label", "northwind", "--no-progress", "--errors", str(errors), str(batch)
        )
    assert "NOT-AN-ISRC" in errors.read_text() and "ResourceId[1]/ISRC[1]" in errors.read_text()
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    with pytest.raises(CommandError, match="completion marker"):
        call_command("ddex_ingest", "--label", "northwind", str(incomplete))


# ---------------------------------------------------------------------------------- the Import page


def zipped(batch: Path, *, top: str = "batch", extra: dict[str, bytes] | None = None) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(batch.rglob("*")):
            if path.is_file():
                archive.write(path, f"{top}/{path.relative_to(batch).as_posix()}")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def rights_manager(client):
    from catalog.models import Role
    from tests.factories import member

    label = LabelFactory(name="Northwind")
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    return label


def post_zip(client, django_capture_on_commit_callbacks, data: bytes, **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    with django_capture_on_commit_callbacks(execute=True):
        return client.post(
            reverse("catalog:import-start"),
            {"ddex_zip": SimpleUploadedFile("batch.zip", data, content_type="application/zip"), **fields},
        )


def test_import_page_imports_a_zipped_batch(client, rights_manager, django_capture_on_commit_callbacks):
    from catalog.models import ImportJob, ImportStatus

    response = post_zip(client, django_capture_on_commit_callbacks, zipped(ERN43 / "batch-20261101090000"))
    job = ImportJob.objects.get()
    assert response.status_code == 302 and job.kind == "ddex" and job.status == ImportStatus.DONE
    assert Recording.objects.filter(label=rights_manager, status=RecordingStatus.INDEXED).count() == 2
    page = client.get(response["Location"]).content.decode()
    assert "1 applied" in page and "2 created" in page


def test_import_page_lists_ddex_problems_with_xpath_and_writes_nothing(
    client, rights_manager, django_capture_on_commit_callbacks, tmp_path
):
    from catalog.models import ImportJob, ImportStatus

    batch = broken_batch(tmp_path, {"<ISRC>QZES72600002</ISRC>": "<ISRC>NOT-AN-ISRC</ISRC>"})
    response = post_zip(client, django_capture_on_commit_callbacks, zipped(batch))
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.INVALID and not Recording.objects.exists()
    page = client.get(response["Location"]).content.decode()
    assert "STEMMA-EX-43-0001" in page and "ResourceId[1]/ISRC[1]" in page and "Nothing was imported" in page


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"not a zip at all", "not a zip"),
        (None, "points outside the batch"),
        (None, "completion marker"),
    ],
    ids=["not-zip", "traversal", "incomplete"],
)
def test_import_page_refuses_unsafe_or_incomplete_zips(
    client, rights_manager, django_capture_on_commit_callbacks, data, expected, tmp_path
):
    from catalog.models import ImportJob

    if expected == "points outside the batch":
        data = zipped(ERN43 / "batch-20261101090000", extra={"../evil.xml": b"<x/>"})
    elif expected == "completion marker":
        batch = tmp_path / "b"
        shutil.copytree(ERN43 / "batch-20261101090000", batch)
        (batch / "BatchComplete_20261101090000.xml").unlink()
        data = zipped(batch)
    response = post_zip(client, django_capture_on_commit_callbacks, data)
    job = ImportJob.objects.first()
    if job is None:
        assert expected in response.content.decode() or expected in str(list(response.wsgi_request._messages))
    else:
        assert expected in job.errors[0]["reason"]
    assert not Recording.objects.exists()


def test_a_zip_declaring_a_huge_size_is_refused_before_extracting(tmp_path):
    import io
    import zipfile

    from catalog.ddex.batch import zip_extract

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BatchComplete_1.xml", b"<done/>")
        archive.writestr("bomb.xml", b"\0" * (5 * 1024 * 1024))  # 5 MiB of zeros, a few KiB compressed
    target = tmp_path / "extract"
    target.mkdir()
    with pytest.raises(BatchInvalid, match="declares"):
        zip_extract(io.BytesIO(buffer.getvalue()), target, max_bytes=1024 * 1024)
    assert not any(target.iterdir())
