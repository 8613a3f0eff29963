"""DDEX DSR flat files on POST /api/v1/usage/reports: detected from the content, the same usage lines as the
equivalent CSV report, idempotent by MessageId, malformed files refused without writing anything."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from partner_api.models import UsageReport
from royalties.models import UsageLine
from tests.partner_api.conftest import make_clip

pytestmark = pytest.mark.django_db

REPORTS = "/api/v1/usage/reports"
SAMPLE = next((Path(__file__).resolve().parents[2] / "examples" / "ddex" / "dsr").glob("DSR_*.tsv"))
EQUIVALENT_CSV = """HEAD,CSV-EQUIVALENT,2026-10-01,2026-10-31,EUR
line_id,external_id,usage_count,net_revenue,territory
STEMMA-EX-DSR-0001:ST-0001,gen-0001,2000,24,DE
STEMMA-EX-DSR-0001:ST-0002,gen-0001,600,2.4,FR
STEMMA-EX-DSR-0001:ST-0003,clip-77,1000,12,DE
STEMMA-EX-DSR-0001:ST-0004,clip-77,400,1.6,FR
"""


@pytest.fixture
def clips(world):
    make_clip(world.a1, external_id="gen-0001")
    make_clip(world.a1, external_id="clip-77", extra={"isrc": "QZES72600102"})  # named by its ISRC


def upload(client, data: bytes, name="report.tsv"):
    return client.post(REPORTS, {"file": SimpleUploadedFile(name, data, "text/plain")}, format="multipart")


def usage_lines() -> list[tuple]:
    return sorted(
        UsageLine.objects.values_list(
            "label_id", "partner_id", "clip_id", "partner_line_id", "line_type", "usage_date", "territory",
            "usage_count", "net_revenue", "currency",
        )
    )  # fmt: skip


def test_a_dsr_gives_the_same_usage_lines_as_the_equivalent_csv_and_a_replay_adds_none(
    world, clips, django_capture_on_commit_callbacks
):
    client = world.a1.client()
    with django_capture_on_commit_callbacks(execute=True):
        csv_report = upload(client, EQUIVALENT_CSV.encode(), name="report.csv")
    assert csv_report.status_code == 202
    from_csv = usage_lines()
    assert len(from_csv) == 4
    UsageLine.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, SAMPLE.read_bytes(), name="anything.csv")  # the name does not matter
    assert response.status_code == 202, response.json()
    report = client.get(f"{REPORTS}/{response.json()['id']}").json()
    assert report["status"] == "processed", report
    assert (report["report_ref"], report["currency"], report["period_start"], report["period_end"]) == (
        "STEMMA-EX-DSR-0001", "EUR", "2026-10-01", "2026-10-31",
    )  # fmt: skip
    assert (report["line_count"], report["accepted_count"], report["rejected_count"]) == (4, 4, 0)
    assert usage_lines() == from_csv

    with django_capture_on_commit_callbacks(execute=True):
        again = upload(client, SAMPLE.read_bytes())
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert (
        usage_lines() == from_csv and UsageReport.objects.filter(report_ref="STEMMA-EX-DSR-0001").count() == 1
    )


def test_rejected_dsr_records_are_listed_by_record_number(world, clips, django_capture_on_commit_callbacks):
    other = make_clip(world.b1, external_id="gen-b")  # another label's clip: never found through a1's key
    text = SAMPLE.read_text().replace("gen-0001", other.external_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(world.a1.client(), text.encode())
    report = world.a1.client().get(f"{REPORTS}/{response.json()['id']}").json()
    assert report["accepted_count"] == 2 and report["rejected_count"] == 2
    assert [(r["line"], r["code"]) for r in report["rejected_lines"]] == [
        (9, "clip_unknown"),
        (10, "clip_unknown"),
    ]
    assert not UsageLine.objects.filter(clip=other).exists()


def test_a_dsr_with_a_bad_head_is_refused_on_upload(world, clips):
    data = SAMPLE.read_bytes().replace(b"BasicAudioProfile", b"MadeUpProfile", 1)
    response = upload(world.a1.client(), data)
    assert response.status_code == 400 and response.json()["error"]["code"] == "usage_report_invalid"
    assert "Profile" in response.json()["error"]["message"]
    assert not UsageReport.objects.exists()


def test_a_truncated_dsr_fails_whole_and_writes_nothing(world, clips, django_capture_on_commit_callbacks):
    data = SAMPLE.read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(world.a1.client(), data[: data.index(b"FOOT")])
    report = world.a1.client().get(f"{REPORTS}/{response.json()['id']}").json()
    assert report["status"] == "failed" and report["error"]["code"] == "dsr_invalid"
    assert "FOOT" in report["error"]["message"]
    assert not UsageLine.objects.exists()
