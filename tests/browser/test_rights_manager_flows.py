"""A rights manager's day in a real browser: review a clip, close a month, download a statement."""

from datetime import date

import pytest

from catalog.models import Membership, Role
from fingerprinting.models import Attribution, ReviewState
from royalties.models import Period, PeriodStatus
from tests.browser.conftest import sign_in
from tests.factories import (
    LabelFactory,
    PartnerFactory,
    PartyFactory,
    RecordingFactory,
    UserFactory,
    split_for,
)
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def label_with_a_month():
    label, partner = LabelFactory(name="Northgate Records"), PartnerFactory(name="Melodia AI")
    admin = UserFactory(username="ada")
    Membership.objects.create(user=admin, label=label, role=Role.ADMIN)
    a = RecordingFactory(label=label, title="Harbour Lights")
    b = RecordingFactory(label=label, title="Glass Orchard")
    split_for(
        a,
        {
            PartyFactory(label=label, name="Mara Vale"): "0.7",
            PartyFactory(label=label, name="Jonah Reed"): "0.3",
        },
    )
    split_for(b, {PartyFactory(label=label, name="Ines Okafor"): "1"})
    deal(label, partner, rate="0.5")
    clip = ClipFactory(label=label, partner=partner, title="Generated sunrise")
    attribute(
        clip, {a: "0.6", b: "0.3"}, review_state=ReviewState.NEEDS_REVIEW, evidence={"duration_seconds": 20.0}
    )
    usage(clip, "100.00", day=date(2026, 9, 12))
    return label, clip, a, b


def test_dashboard_and_adjusting_a_clips_shares(page, label_with_a_month, screenshot):
    label, clip, a, b = label_with_a_month
    sign_in(page, "ada", "secret-pass-123")
    page.wait_for_selector("text=Clips received and attributed")
    screenshot("dashboard")
    page.click("nav >> text=Review")
    page.click("text=Generated sunrise")
    page.wait_for_selector("text=Evidence over the clip's time")
    page.fill(f"input[name=share_{a.pk}]", "0.75")
    page.fill(f"input[name=share_{b.pk}]", "0.2")
    assert page.inner_text("#remainder-live") == "0.050000"  # live remainder as the manager types
    page.fill("#adjust-form input[name=reason]", "Listened: the hook is Harbour Lights")
    page.click("#adjust-form button[type=submit]")
    page.wait_for_selector("text=Version 2 saved")
    screenshot("clip-page")
    versions = page.inner_text("text=Versions >> xpath=following-sibling::table[1]")
    assert "v2" in versions and "v1" in versions and "Listened: the hook" in versions
    clip.refresh_from_db()
    assert clip.current_attribution.version == 2
    assert Attribution.objects.get(clip=clip, version=1).review_state == ReviewState.NEEDS_REVIEW


def test_closing_a_month_and_downloading_a_statement_pdf(page, label_with_a_month, screenshot, tmp_path):
    label, clip, a, b = label_with_a_month
    attribute(clip, {a: "0.6", b: "0.3"})  # a person confirmed it: payable at the close
    sign_in(page, "ada", "secret-pass-123")
    page.click("nav >> text=Royalties")
    page.click("text=September 2026")
    page.click("text=Close 2026-09")
    page.fill("input[name=confirm]", "2026-09")
    page.click("button:has-text('Close 2026-09')")
    page.wait_for_selector("text=balanced", timeout=30_000)
    assert Period.objects.get(label=label).status == PeriodStatus.CLOSED
    page.click("#month-parties >> text=Mara Vale >> xpath=../td[2]/a")
    page.wait_for_selector("text=Closing balance")
    screenshot("statement-page")
    with page.expect_download() as download:
        page.click("text=Download PDF")
    path = tmp_path / "statement.pdf"
    download.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF") and path.stat().st_size > 1000


def test_a_reviewer_marks_a_share_as_composition_and_the_statement_shows_it(page, screenshot):
    """Glass Orchard's melody is re-performed in the clip: the reviewer sets its share's right to
    composition; after the close, its writer's statement shows a composition · publishing line and the
    dashboard master vs publishing."""
    from royalties.models import Statement, StatementLine
    from royalties.services import period_close

    label, partner = LabelFactory(name="Northgate Records"), PartnerFactory(name="Melodia AI")
    admin = UserFactory(username="ada")
    Membership.objects.create(user=admin, label=label, role=Role.ADMIN)
    a = RecordingFactory(label=label, title="Harbour Lights")
    b = RecordingFactory(label=label, title="Glass Orchard")
    split_for(a, {PartyFactory(label=label, name="Mara Vale"): "1"})
    split_for(b, {PartyFactory(label=label, name="Ines Okafor"): "1"})
    split_for(b, {PartyFactory(label=label, name="Theo Writer"): "1"}, right_type="publishing")
    deal(label, partner, rate="0.5", publishing_fraction="0.4")
    clip = ClipFactory(label=label, partner=partner, title="Generated sunrise")
    attribute(
        clip, {a: "0.6", b: "0.3"}, review_state=ReviewState.NEEDS_REVIEW, evidence={"duration_seconds": 20.0}
    )
    usage(clip, "100.00", day=date(2026, 9, 12))

    sign_in(page, "ada", "secret-pass-123")
    page.goto(f"/clips/{clip.pk}/")
    page.wait_for_selector("#adjust-form")
    page.select_option(f"select[name=right_{b.pk}]", "composition")
    page.fill("#adjust-form input[name=reason]", "The melody of Glass Orchard, other instruments")
    page.click("#adjust-form button[type=submit]")
    page.wait_for_selector("text=Version 2 saved")
    assert "Composition only" in page.inner_text("#shares")
    screenshot("clip-page-rights")
    clip.refresh_from_db()
    assert clip.current_attribution.shares.get(recording=b).right == "composition"

    period_close(label=label, period="2026-09")
    writer = Statement.objects.get(party__name="Theo Writer")
    page.goto(f"/royalties/statements/{writer.pk}/")
    lines = page.inner_text("#statement-lines")
    assert "composition · publishing" in lines and "Glass Orchard" in lines
    screenshot("statement-rights")
    # B's master owner: nothing of the composition share, only the remainder's pro-rata every master gets.
    ines = StatementLine.objects.filter(statement__party__name="Ines Okafor")
    assert {(line.kind, line.right, line.right_type) for line in ines} == {("pro_rata", "", "master")}
    from django.core.cache import cache

    cache.clear()  # the dashboard seen at sign-in is cached for a minute (royalties.dashboard)
    page.goto("/royalties/dashboard/")
    rights = page.inner_text("#revenue-by-right")
    assert "master" in rights and "publishing" in rights and "kept by the label" in rights
    screenshot("dashboard-rights")
