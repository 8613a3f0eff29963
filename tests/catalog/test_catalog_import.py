import csv
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.importer import COLUMNS, catalog_import
from catalog.models import Party, Recording, RecordingStatus, Split, SplitShare, Work
from demo.synth import synthesize, write_wav
from tests.factories import LabelFactory

pytestmark = pytest.mark.django_db
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "catalog.csv"


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def row(isrc="QZS7M2600101", **values) -> dict:
    return {"isrc": isrc, "title": "Song", "display_artist": "Artist"} | values


def share(isrc, party, value, right="master", start="2024-01-01", **extra) -> dict:
    return row(isrc, party_name=party, right_type=right, share=value, effective_from=start, **extra)


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Recording, Party, Split, SplitShare, Work))


def test_example_file_imports_and_rerun_is_idempotent(capsys):
    label = LabelFactory(slug="northgate")
    call_command("catalog_import", str(EXAMPLE), label="northgate", no_progress=True)
    first = counts()
    assert first == (3, 5, 3, 7, 1)
    recording = Recording.objects.get(label=label, isrc="QZS7M2600001")
    assert recording.works.get().iswc == "T0345246801"
    assert Party.objects.get(name="Tidewater Publishing").ipi == "00014107338"

    call_command("catalog_import", str(EXAMPLE), label="northgate", no_progress=True)
    assert counts() == first
    assert "3 unchanged" in capsys.readouterr().out


def test_bad_file_reports_every_bad_line_and_writes_nothing(tmp_path, capsys):
    LabelFactory(slug="northgate")
    rows = [
        share("QZS7M2600101", "Ann", "0.5"),
        share("QZS7M2600101", "Bob", "0.4"),  # sums to 0.9
        row("NOT-AN-ISRC"),
        share("QZS7M2600102", "Cy", "1", right="sync"),
        row("QZS7M2600103", iswc="T-034.524.680-9"),
        share("QZS7M2600104", "Di", "1", start="2024-13-01"),
        row("QZS7M2600105"),  # good
    ]
    path = tmp_path / "bad.csv"
    path.write_text(to_csv(rows))
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("catalog_import", str(path), label="northgate", no_progress=True)
    err = capsys.readouterr().err
    assert "bad.csv:2: QZS7M2600101: recording QZS7M2600101: master shares sum to 0.9" in err
    assert "bad.csv:4: " in err and "not a valid ISRC" in err
    assert "bad.csv:5: QZS7M2600102: right_type 'sync'" in err
    assert "bad.csv:6: QZS7M2600103: " in err and "ISWC check digit" in err
    assert "bad.csv:7: QZS7M2600104: effective_from '2024-13-01' is not a date" in err
    assert counts() == (0, 0, 0, 0, 0)


def test_skip_invalid_imports_good_recordings_and_writes_rejects(tmp_path):
    LabelFactory(slug="northgate")
    rows = [
        share("QZS7M2600101", "Ann", "0.5"),
        share("QZS7M2600101", "Bob", "0.4"),
        share("QZS7M2600102", "Ann", "1"),
        row("QZS7M2600103", duration_seconds="-4"),
    ]
    path = tmp_path / "mixed.csv"
    path.write_text(to_csv(rows))
    call_command("catalog_import", str(path), label="northgate", skip_invalid=True, no_progress=True)
    assert list(Recording.objects.values_list("isrc", flat=True)) == ["QZS7M2600102"]
    rejects = list(csv.DictReader((tmp_path / "mixed.rejects.csv").open()))
    assert [r["line"] for r in rejects] == ["2", "3", "5"]
    assert "sum to 0.9" in rejects[0]["reason"]
    assert rejects[1]["reason"] == "another line of this recording is invalid"
    assert "duration_seconds" in rejects[2]["reason"]


def test_changed_split_needs_a_new_date_and_never_edits():
    label = LabelFactory()
    catalog_import(label=label, csv_text=to_csv([share("QZS7M2600101", "Ann", "1")]))
    changed = to_csv([share("QZS7M2600101", "Ann", "0.5"), share("QZS7M2600101", "Bob", "0.5")])
    report = catalog_import(label=label, csv_text=changed)
    assert not report.written and "already exists with other shares" in report.errors[0].reason
    later = to_csv([
        share("QZS7M2600101", "Ann", "0.5", start="2025-01-01"),
        share("QZS7M2600101", "Bob", "0.5", start="2025-01-01"),
    ])  # fmt: skip
    assert catalog_import(label=label, csv_text=later).splits_created == 1
    earlier = to_csv([share("QZS7M2600101", "Ann", "1", start="2023-01-01")])
    assert "retroactively" in catalog_import(label=label, csv_text=earlier).errors[0].reason
    assert Split.objects.count() == 2


def test_recording_fields_update_on_rerun():
    label = LabelFactory()
    catalog_import(label=label, csv_text=to_csv([row(title="Old")]))
    report = catalog_import(label=label, csv_text=to_csv([row(title="New")]))
    assert report.recordings_updated == 1
    assert Recording.objects.get().title == "New"


def test_audio_is_stored_and_marked_pending(tmp_path):
    label = LabelFactory()
    write_wav(tmp_path / "QZS7M2600101.wav", synthesize(5, 4.0))
    report = catalog_import(label=label, csv_text=to_csv([row()]), audio_dir=tmp_path)
    assert report.audio_stored == 1
    recording = Recording.objects.get()
    assert recording.status == RecordingStatus.PENDING and recording.audio.name.endswith(".wav")
    assert len(recording.audio_sha256) == 64
    again = catalog_import(label=label, csv_text=to_csv([row()]), audio_dir=tmp_path)
    assert again.audio_stored == 0


def test_missing_audio_file_is_an_error(tmp_path):
    label = LabelFactory()
    report = catalog_import(label=label, csv_text=to_csv([row(audio_file="nope.wav")]), audio_dir=tmp_path)
    assert "not found" in report.errors[0].reason and not report.written


def test_header_and_label_errors(tmp_path):
    LabelFactory(slug="northgate")
    path = tmp_path / "x.csv"
    path.write_text("foo,bar\n1,2\n")
    with pytest.raises(CommandError, match="required column"):
        call_command("catalog_import", str(path), label="northgate", no_progress=True)
    with pytest.raises(CommandError, match="no label"):
        call_command("catalog_import", str(EXAMPLE), label="nope", no_progress=True)
    with pytest.raises(CommandError, match="does not exist"):
        call_command("catalog_import", str(tmp_path / "missing.csv"), label="northgate", no_progress=True)
