"""Artist control in a real browser: a rights manager opts a recording out of training, sees it leave
the partner's manifest preview, and later finds a clip that draws on it in the review queue, marked as
outside the licence."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from catalog.models import Membership, Role
from fingerprinting.services import clip_attribute
from tests.browser.conftest import sign_in
from tests.factories import (
    LabelFactory,
    PartnerFactory,
    PartyFactory,
    RecordingFactory,
    UserFactory,
    split_for,
)
from tests.fingerprinting.test_share_rights import engine_answer
from tests.royalties.factories import ClipFactory, deal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def licensed_catalog():
    label, partner = LabelFactory(name="Northgate Records"), PartnerFactory(name="Melodia AI", slug="melodia")
    manager = UserFactory(username="rosa")
    Membership.objects.create(user=manager, label=label, role=Role.RIGHTS_MANAGER)
    deal(label, partner, rate="0.5")
    recordings = []
    for n, (title, artist) in enumerate([("Harbour Lights", "Mara Vale"), ("Glass Orchard", "Ines Okafor")]):
        recording = RecordingFactory(label=label, title=title, display_artist=artist)
        recording.audio.save(f"{recording.isrc}.wav", ContentFile(b"RIFF" + bytes([n]) * 64), save=False)
        recording.audio_sha256 = f"{n + 1:064x}"
        recording.save()
        split_for(recording, {PartyFactory(label=label, name=artist): "1"})
        recordings.append(recording)
    return label, partner, recordings


def test_opt_out_leaves_the_manifest_and_a_later_clip_is_marked_outside_the_licence(
    page, licensed_catalog, screenshot, monkeypatch
):
    label, partner, (harbour, glass) = licensed_catalog
    sign_in(page, "rosa", "secret-pass-123")

    page.goto("/royalties/training/")
    preview = page.locator("table.manifest-preview[data-partner=melodia]")
    assert harbour.isrc in preview.inner_text() and glass.isrc in preview.inner_text()

    page.goto(f"/catalog/recordings/{harbour.pk}/")
    page.click("text=Record a consent change")
    form = page.locator("form.consent-form")
    form.locator("select[name=use]").select_option("training")
    form.locator("select[name=state]").select_option("opt_out")
    form.locator("input[name=effective_from]").fill(timezone.localdate().isoformat())
    form.locator("input[name=reason]").fill("Mara asked by letter of 3 November")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=Saved:")
    assert "Opted out" in page.locator("table.consent-answers tr[data-use=training]").inner_text()
    screenshot("consent-opted-out")

    page.goto("/royalties/training/")
    preview = page.locator("table.manifest-preview[data-partner=melodia]")
    assert harbour.isrc not in preview.inner_text() and glass.isrc in preview.inner_text()
    screenshot("manifest-preview-after-opt-out")

    # A clip the partner made afterwards draws on the opted-out recording.
    clip = ClipFactory(
        label=label, partner=partner, status="queued", title="Harbour remix",
        generated_at=timezone.now() + timedelta(minutes=1),
    )  # fmt: skip
    engine_answer(monkeypatch, [harbour, glass], [(0, 0.7, "verbatim", None)])
    clip_attribute(clip=clip)

    page.goto("/clips/review/")
    row = page.locator("tr", has_text="Harbour remix")
    # The queue says why: the engine's reasons and the licence check's, which names the share and the use.
    assert f"{harbour.isrc} (a 70.0% share) is outside the licence" in row.inner_text()
    screenshot("review-queue-outside-licence")
    page.goto("/clips/outside-licence/")
    assert harbour.isrc in page.inner_text("table.unlicensed-uses")
