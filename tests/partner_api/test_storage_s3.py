"""The royalties path through an S3-compatible store (moto's server): a partner's usage report is
stored as an object, read back from the bucket by the ingest, and its lines are priced like any other."""

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from partner_api.models import UsageReport
from royalties.models import UsageLine
from tests.partner_api.conftest import make_clip

pytestmark = pytest.mark.django_db

REPORT = """HEAD,S3-REPORT-1,2026-10-01,2026-10-31,EUR
line_id,external_id,usage_count,net_revenue,territory
S3-1,gen-0001,2000,24,DE
S3-2,gen-0001,600,2.4,FR
"""


def test_a_usage_report_is_stored_in_the_bucket_and_ingested_from_it(
    s3_storage, world, django_capture_on_commit_callbacks
):
    make_clip(world.a1, external_id="gen-0001")
    client = world.a1.client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/usage/reports",
            {"file": SimpleUploadedFile("report.csv", REPORT.encode(), "text/csv")},
            format="multipart",
        )
    assert response.status_code == 202, response.json()
    report = UsageReport.objects.get(report_ref="S3-REPORT-1")
    assert report.file.storage.__class__.__name__ == "S3Storage"
    assert report.file.storage.exists(report.file.name)
    with report.file.open("rb") as handle:
        assert handle.read() == REPORT.encode()
    assert UsageLine.objects.filter(partner_line_id__in=["S3-1", "S3-2"]).count() == 2
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]
