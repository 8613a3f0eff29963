"""Issue 13 in a real browser: a partner's WAV/HTML polyglot runs no script in the label's origin, and
every page carries the Content-Security-Policy and still works under it (no violation, no broken page)."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from catalog.models import Membership, Role
from fingerprinting.models import Clip, ReviewState
from partner_api.services import apikey_create
from royalties.models import PayoutBatch, Period
from royalties.services import period_close
from tests.browser.conftest import sign_in
from tests.factories import (
    LabelFactory,
    PartnerFactory,
    PartyFactory,
    RecordingFactory,
    UserFactory,
    split_for,
)
from tests.partner_api.conftest import wav_bytes
from tests.partner_api.test_clips import polyglot_wav
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def label_admin():
    label, partner = LabelFactory(name="Northgate Records", slug="northgate"), PartnerFactory(slug="melodia")
    admin = UserFactory(username="ada")
    admin.is_staff = admin.is_superuser = True  # so that /admin/ is on the tour too
    admin.save()
    Membership.objects.create(user=admin, label=label, role=Role.ADMIN)
    return label, partner


def test_a_polyglot_uploaded_as_html_runs_no_script_for_the_label_admin(page, label_admin, monkeypatch):
    from fingerprinting import tasks

    monkeypatch.setattr(tasks.clip_attribute_task, "delay", lambda *args, **kwargs: None)
    label, partner = label_admin
    key = apikey_create(label=label, partner=partner).raw_key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    upload = SimpleUploadedFile("x.html", polyglot_wav(wav_bytes(4.0)), content_type="text/html")
    answer = api.post("/api/v1/clips", {"external_id": "poly", "audio": upload}, format="multipart")
    assert answer.status_code == 202, answer.json()
    clip = Clip.objects.get(pk=answer.json()["id"])

    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, "ada", "secret-pass-123")
    response = page.request.get(f"/clips/{clip.pk}/audio.bin")
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["x-content-type-options"] == "nosniff"
    page.goto(f"/clips/{clip.pk}/audio.bin")
    page.wait_for_timeout(500)  # give a script, were there one, the time to run
    assert dialogs == []
    assert page.evaluate("document.title") != "pwned"
    assert page.evaluate("document.querySelector('script') === null")


@pytest.fixture
def everything(label_admin):
    label, partner = label_admin
    recording = RecordingFactory(label=label, title="Harbour Lights")
    party = PartyFactory(label=label, name="Mara Vale")
    split_for(recording, {party: "1"})
    deal(label, partner, rate="0.5")
    clip = ClipFactory(label=label, partner=partner, title="Generated sunrise")
    attribute(
        clip, {recording: "0.6"}, review_state=ReviewState.NEEDS_REVIEW, evidence={"duration_seconds": 20.0}
    )
    usage(clip, "100.00", day=date(2026, 9, 12))
    period_close(label=label, period="2026-09")
    period = Period.objects.get(label=label)
    from royalties.models import Statement

    statement = Statement.objects.filter(period=period).first()
    batch = PayoutBatch.objects.filter(label=label).first()
    pages = [
        "/royalties/dashboard/",
        "/catalog/recordings/",
        f"/catalog/recordings/{recording.pk}/",
        "/catalog/imports/",
        "/catalog/audit/",
        "/clips/",
        "/clips/review/",
        f"/clips/{clip.pk}/",
        "/royalties/periods/",
        f"/royalties/periods/{period.pk}/",
        "/royalties/payouts/",
        "/partners/",
        f"/partners/{partner.slug}/",
        "/admin/",
        "/admin/catalog/recording/",
        f"/admin/catalog/recording/{recording.pk}/change/",
        "/api/docs/",
        "/api/redoc/",
    ]
    if statement is not None:
        pages.append(f"/royalties/statements/{statement.pk}/")
    if batch is not None:
        pages.append(f"/royalties/payouts/{batch.pk}/")
    return clip, recording, pages


# Third-party loads the vendored Redoc page attempts (its footer logo, Google Fonts): the policy is
# right to block them (the docs are served without internet access), and the page renders without.
EXPECTED_BLOCKS = ("https://cdn.redoc.ly/", "https://fonts.googleapis.com/")


def test_every_page_has_the_csp_and_nothing_breaks_under_it(page, everything):
    clip, recording, pages = everything
    problems: list[str] = []

    def on_console(message) -> None:
        text = message.text
        if message.type != "error" or not ("Content Security Policy" in text or "Refused" in text):
            return
        if not any(origin in text for origin in EXPECTED_BLOCKS):
            problems.append(f"{page.url}: {text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    response = page.goto("/accounts/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    sign_in(page, "ada", "secret-pass-123")
    for path in pages:
        response = page.goto(path)
        assert response.status == 200, path
        policy = response.headers.get("content-security-policy", "")
        assert (
            "script-src 'self'" in policy
            and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        )
        page.wait_for_load_state("networkidle")
    # Scripts that moved out of the templates still work: Swagger UI and Redoc render the API...
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock-summary", timeout=15_000)
    page.goto("/api/redoc/")
    page.wait_for_selector("text=Submit a clip", state="attached", timeout=15_000)
    # ...and the clip page's live remainder follows what is typed.
    page.goto(f"/clips/{clip.pk}/")
    page.fill(f"input[name=share_{recording.pk}]", "0.75")
    assert page.inner_text("#remainder-live") == "0.250000"
    assert not problems, problems
