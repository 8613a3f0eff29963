"""The demo, end to end and smaller (6 recordings): its month agrees to the cent on every page, and its
review queue holds the clip whose declared reference the audio does not support, with the money held on
it (issue 14: the demo shows a real review case, not a set flag)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from catalog.models import AuditEvent, ImportJob, ImportStatus, Label
from fingerprinting.models import Clip, ReviewState
from royalties.models import Period, PeriodStatus
from tests.royalties.test_month import assert_month_agrees

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_demo_month_agrees_and_its_queue_explains(client, tmp_path):
    out = StringIO()
    call_command("demo_build", "--recordings", "6", "--dir", str(tmp_path / "demo"), stdout=out)
    call_command("index_catalog", "--label", "demo", stdout=out)
    call_command("demo_clips", "--label", "demo", "--partner", "melodia", stdout=out)
    call_command("demo_royalties", "--label", "demo", "--partner", "melodia", stdout=out)
    label = Label.objects.get(slug="demo")
    period = Period.objects.get(label=label, status=PeriodStatus.CLOSED)
    client.force_login(label.memberships.get().user)
    month = assert_month_agrees(client, label, period)

    waiting = Clip.objects.get(label=label, external_id__startswith="demo-declared-unsupported-")
    assert waiting.current_attribution.review_state == ReviewState.NEEDS_REVIEW
    assert "unsupported_reference" in {r["code"] for r in waiting.current_attribution.review_reasons}
    assert waiting.pk in {h.clip_id for h in month.held} and month.currency("EUR").held > 0
    queue = client.get(reverse("fingerprinting:review-queue")).content.decode()
    assert waiting.external_id in queue and "is not supported by the audio" in queue


def test_the_demo_import_is_an_import_job_in_the_history_and_audit_log(client, tmp_path):
    out = StringIO()
    call_command("demo_build", "--recordings", "3", "--dir", str(tmp_path / "demo"), stdout=out)
    label = Label.objects.get(slug="demo")
    job = ImportJob.objects.get(label=label)
    assert job.status == ImportStatus.DONE and job.summary["recordings_created"] == 3
    assert job.summary["audio_stored"] == 3 and job.created_by == label.memberships.get().user
    assert AuditEvent.objects.filter(label=label, action="catalog.imported").count() == 1
    assert f"import #{job.pk}" in out.getvalue()
    client.force_login(job.created_by)
    assert "demo-catalog.csv" in client.get(reverse("catalog:import-start")).content.decode()
