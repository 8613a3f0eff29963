import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import AuditEvent, ImportJob, ImportStatus, Recording, RecordingStatus, Role
from demo.synth import synthesize, write_wav
from tests.factories import LabelFactory, PartyFactory, RecordingFactory, member, split_for

pytestmark = pytest.mark.django_db

GOOD_CSV = (
    "isrc,title,display_artist,party_name,right_type,share,effective_from\n"
    "QZS7M2600201,One,Ann,Ann,master,1,2024-01-01\n"
    "QZS7M2600202,Two,Bob,Bob,master,0.5,2024-01-01\n"
    "QZS7M2600202,Two,Bob,Cy,master,0.5,2024-01-01\n"
)
BAD_CSV = GOOD_CSV + "QZS7M2600203,Three,Di,Di,master,0.7,2024-01-01\n"


def wav_upload(name="song.wav", seconds=3.0) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    import soundfile

    soundfile.write(buffer, synthesize(11, seconds), 22050, format="WAV")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="audio/wav")


@pytest.fixture
def label():
    return LabelFactory(name="Northgate")


@pytest.fixture
def post_committed(client, django_capture_on_commit_callbacks):
    """POST, then run what the view queued with transaction.on_commit, as a real request's commit would."""

    def post(url, data):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data)

    return post


def test_import_page_runs_the_import_and_shows_the_summary(client, label, post_committed):
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    response = post_committed(
        reverse("catalog:import-start"), {"csv_file": SimpleUploadedFile("cat.csv", GOOD_CSV.encode())}
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "catalog:import-detail", args=[job.pk]
    )
    assert job.status == ImportStatus.DONE  # eager Celery ran it on commit
    page = client.get(response["Location"]).content.decode()
    assert "2 created" in page and Recording.objects.filter(label=label).count() == 2
    assert AuditEvent.objects.filter(label=label, action="catalog.imported").exists()


def test_import_page_lists_each_bad_line_and_writes_nothing(client, label, post_committed):
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    post_committed(
        reverse("catalog:import-start"), {"csv_file": SimpleUploadedFile("bad.csv", BAD_CSV.encode())}
    )
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.INVALID
    page = client.get(reverse("catalog:import-detail", args=[job.pk])).content.decode()
    assert "Nothing was imported" in page and "master shares sum to 0.7" in page
    assert Recording.objects.count() == 0


def test_import_skip_invalid_offers_rejects(client, label, post_committed):
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    post_committed(
        reverse("catalog:import-start"),
        {"csv_file": SimpleUploadedFile("bad.csv", BAD_CSV.encode()), "skip_invalid": "1"},
    )
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.DONE and Recording.objects.count() == 2
    rejects = client.get(reverse("catalog:import-rejects", args=[job.pk])).content.decode()
    assert "QZS7M2600203" in rejects and "sum to 0.7" in rejects


def test_progress_partial_for_htmx(client, label):
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    client.post(reverse("catalog:import-start"), {"csv_file": SimpleUploadedFile("c.csv", GOOD_CSV.encode())})
    job = ImportJob.objects.get()
    partial = client.get(
        reverse("catalog:import-detail", args=[job.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert partial.startswith('<div id="import-progress"') and "<html" not in partial


def test_viewer_cannot_import_or_upload(client, label):
    recording = RecordingFactory(label=label)
    client.force_login(member("vic", label, Role.VIEWER))
    upload = client.post(
        reverse("catalog:import-start"), {"csv_file": SimpleUploadedFile("c.csv", GOOD_CSV.encode())}
    )
    assert upload.status_code == 403 and not ImportJob.objects.exists()
    audio = client.post(
        reverse("catalog:recording-audio-upload", args=[recording.pk]), {"audio": wav_upload()}
    )
    assert audio.status_code == 403


def test_audio_upload_stores_and_streams_only_to_own_label(client, label):
    recording = RecordingFactory(label=label)
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    client.post(reverse("catalog:recording-audio-upload", args=[recording.pk]), {"audio": wav_upload()})
    recording.refresh_from_db()
    assert recording.status == RecordingStatus.PENDING and abs(recording.duration_seconds - 3.0) < 0.01
    assert client.get(reverse("catalog:recording-audio", args=[recording.pk])).status_code == 200
    other = member("otto", LabelFactory())
    client.force_login(other)
    assert client.get(reverse("catalog:recording-audio", args=[recording.pk])).status_code == 404


def test_audio_upload_rejects_non_audio(client, label):
    recording = RecordingFactory(label=label)
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    fake = SimpleUploadedFile("song.wav", b"this is just text, not audio", content_type="audio/wav")
    response = client.post(
        reverse("catalog:recording-audio-upload", args=[recording.pk]), {"audio": fake}, follow=True
    )
    assert "not audio we can read" in response.content.decode()
    recording.refresh_from_db()
    assert not recording.audio and recording.status == RecordingStatus.NO_AUDIO


def test_audit_log_records_splits_and_is_scoped(client, label, tmp_path):
    recording = RecordingFactory(label=label)
    split_for(recording, {PartyFactory(label=label, name="Ann"): "1"})
    outsider_label = LabelFactory()
    split_for(RecordingFactory(label=outsider_label), {PartyFactory(label=outsider_label, name="Zed"): "1"})
    client.force_login(member("rita", label, Role.VIEWER))
    page = client.get(reverse("catalog:audit-log"), {"action": "split.created"}).content.decode()
    assert "Ann 1" in page and "Zed" not in page


def test_recording_page_renders_splits(client, label):
    recording = RecordingFactory(label=label, title="Harbour Lights")
    split_for(
        recording,
        {PartyFactory(label=label, name="Ann"): "0.6", PartyFactory(label=label, name="Bob"): "0.4"},
    )
    client.force_login(member("rita", label))
    page = client.get(reverse("catalog:recording-detail", args=[recording.pk])).content.decode()
    assert "Harbour Lights" in page and "60.00\u00a0%" in page and "Bob" in page


def test_csrf_is_enforced_on_forms(label):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(member("rita", label))
    response = csrf_client.post(reverse("catalog:import-start"), {})
    assert response.status_code == 403


def test_wav_fixture_is_real_audio(tmp_path):
    write_wav(tmp_path / "x.wav", synthesize(1, 1.0))
    assert (tmp_path / "x.wav").stat().st_size > 40000


def test_rights_manager_adds_a_split_version_from_the_recording_page(client, label):
    recording = RecordingFactory(label=label)
    ann = PartyFactory(label=label, name="Ann")
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    url = reverse("catalog:recording-split-add", args=[recording.pk])
    form = {"right_type": "master", "effective_from": "2025-01-01", "party_0": ann.name, "share_0": "0.6",
            "party_1": "Brand New Co", "share_1": "0.4"}  # fmt: skip
    assert client.post(url, form).status_code == 409 and not recording.splits.exists()  # asks first
    client.post(url, form | {"resolve_1": "__new__"})
    split = recording.splits.get()
    assert {s.party.name: str(s.share) for s in split.shares.all()} == {
        "Ann": "0.600000",
        "Brand New Co": "0.400000",
    }
    bad = client.post(
        url, form | {"effective_from": "2026-01-01", "share_1": "0.3"}, follow=True
    ).content.decode()
    assert "sum to 0.9" in bad and recording.splits.count() == 1
    back = client.post(url, form | {"effective_from": "2024-01-01"}, follow=True).content.decode()
    assert "retroactively" in back and recording.splits.count() == 1


def test_viewer_cannot_add_splits(client, label):
    recording = RecordingFactory(label=label)
    client.force_login(member("vic", label, Role.VIEWER))
    response = client.post(
        reverse("catalog:recording-split-add", args=[recording.pk]), {"right_type": "master"}
    )
    assert response.status_code == 403


def test_audit_log_covers_attributions_periods_and_keys(client, label):
    """Each of these services writes its own audit event in the transaction of the change."""
    from datetime import date
    from decimal import Decimal

    from fingerprinting.services import attribution_revise
    from partner_api.services import apikey_create, apikey_revoke
    from royalties.services import period_close
    from tests.factories import PartnerFactory
    from tests.royalties.factories import ClipFactory, attribute, deal

    admin = member("ada", label, Role.ADMIN)
    partner = PartnerFactory(name="Melodia")
    recording = RecordingFactory(label=label)
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {recording: "0.5"})
    attribution_revise(
        clip=clip,
        shares={recording: Decimal("0.8")},
        review_state="adjusted",
        created_by=admin,
        reason="ears",
    )
    deal(label, partner)
    period_close(label=label, period=date(2026, 9, 1), closed_by=admin)
    created = apikey_create(label=label, partner=partner, name="prod", created_by=admin)
    apikey_revoke(api_key=created.api_key, revoked_by=admin)
    actions = set(AuditEvent.objects.filter(label=label, actor=admin).values_list("action", flat=True))
    assert {"attribution.adjusted", "period.closed", "apikey.created", "apikey.revoked"} <= actions
    client.force_login(admin)
    page = client.get(reverse("catalog:audit-log"), {"object_type": "apikey"}).content.decode()
    assert "revoked" in page and "prod" in page
