"""The rights manager's month in a real browser (issue 14): follow the money from the dashboard to a
party's statement, review the top item of the queue by money after hearing the matched segment, create a
party through the near-match prompt, and the 390 px layout. Screenshots of each step: var/screenshots/."""

import io
from datetime import date

import numpy as np
import pytest
import soundfile
from django.core.files.base import ContentFile

from catalog.models import Membership, Party, Role
from fingerprinting.models import ReviewState
from royalties.models import Statement
from royalties.month import period_month
from royalties.services import period_close
from tests.browser.conftest import SCREENSHOT_DIR, sign_in
from tests.factories import (
    LabelFactory,
    PartnerFactory,
    PartyFactory,
    RecordingFactory,
    UserFactory,
    split_for,
)
from tests.royalties.factories import ClipFactory, attribute, deal, usage
from tests.royalties.test_month import demo_like_month

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def wav(seconds: float, sr: int = 8000) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.2 * np.sin(2 * np.pi * 440 * t), sr, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def admin_of(label, username="ada"):
    user = UserFactory(username=username)
    Membership.objects.create(user=user, label=label, role=Role.ADMIN)
    return user


def walk_figures(page) -> dict[str, str]:
    cells = page.query_selector_all("table.walk[data-currency=EUR] td[data-figure]")
    return {cell.get_attribute("data-figure"): cell.inner_text().split()[0] for cell in cells}


def test_follow_one_month_from_the_dashboard_to_a_statement(page, screenshot):
    label, period, _ = demo_like_month()
    admin_of(label)
    month = period_month(period=period)
    sign_in(page, "ada", "secret-pass-123")
    page.goto("/royalties/dashboard/")
    page.wait_for_selector("#month-money")
    on_dashboard = walk_figures(page)
    screenshot("month-1-dashboard")
    page.click("#month-money h2 a")
    page.wait_for_selector("#month")
    on_period_page = walk_figures(page)
    assert on_dashboard and all(on_period_page[k] == v for k, v in on_dashboard.items())
    eur = month.currency("EUR")
    assert on_period_page["parties"] == f"{eur.parties:,.2f}" and on_period_page["held"] == f"{eur.held:,.2f}"
    assert "threshold" in page.inner_text("#month") and "5.00" in page.inner_text("#month")
    held = page.inner_text("#held + .scroll")
    assert "demo-2" in held and "disputed" in held
    screenshot("month-2-period")
    party = next(p for p in month.parties if p.party == "Ines Okafor")
    row = page.locator("#month-parties tr", has_text="Ines Okafor")
    assert f"{party.closing:,.2f}" in row.inner_text()
    row.locator("td:nth-child(2) a").click()
    page.wait_for_selector("text=Closing balance")
    statement = Statement.objects.get(pk=party.statement_id)
    assert f"{statement.closing_balance:,.2f}" in page.inner_text(".card.stat.total")
    assert statement.closing_balance == party.closing
    screenshot("month-3-statement")


def test_review_the_top_item_by_money_hear_the_segment_and_confirm(page, screenshot, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    label, partner = LabelFactory(name="Northgate"), PartnerFactory(name="Melodia")
    admin_of(label)
    song = RecordingFactory(label=label, title="Harbour Lights")
    song.audio.save("song.wav", ContentFile(wav(30.0)), save=True)
    split_for(song, {PartyFactory(label=label, name="Mara Vale"): "1"})
    deal(label, partner)
    run = {"clip_start": 2.5, "clip_end": 6.0, "rec_start": 12.0, "rec_end": 15.5, "method": "landmarks",
           "matches": 41, "tempo": 1.0, "semitones": 0.0, "false_alarm": 3e-5}  # fmt: skip
    reasons = [{"code": "weak_evidence", "message": "Harbour Lights (80.0%): false-alarm chance 3e-05"}]
    clips = {}
    for title, revenue in (("Small stake", "10.00"), ("Big stake", "800.00")):
        clip = ClipFactory(label=label, partner=partner, title=title, audio=None)
        clip.audio.save(f"{title}.wav", ContentFile(wav(8.0)), save=True)
        attribute(clip, {song: "0.8"}, review_state=ReviewState.NEEDS_REVIEW, review_reasons=reasons,
                  evidence={"duration_seconds": 8.0}, share_evidence={song: {"verbatim": {"runs": [run]}}})  # fmt: skip
        usage(clip, revenue, day=date(2026, 9, 4))
        clips[title] = clip
    period_close(label=label, period="2026-09")

    sign_in(page, "ada", "secret-pass-123")
    page.goto("/clips/review/")
    first = page.locator("tr.queue-item").first
    assert "Big stake" in first.inner_text() and "400.00 EUR" in first.inner_text()  # most money first
    assert "false-alarm chance" in first.inner_text()
    screenshot("review-1-queue")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Matched segments")
    assert "2.5–6.0 s" in page.inner_text(".segments") and "12.0–15.5 s" in page.inner_text(".segments")
    page.click("button:has-text('▶ clip 2.5 s')")
    page.wait_for_function("document.getElementById('clip-player').currentTime >= 2.5")
    page.click("button:has-text('▶ recording 12.0 s')")
    page.wait_for_function("document.querySelector('.segments audio').currentTime >= 12.0")
    screenshot("review-2-clip-segments")
    page.go_back()
    page.wait_for_selector("tr.queue-item")
    page.keyboard.press("j")
    page.keyboard.press("c")
    page.wait_for_selector("text=1 attribution confirmed")
    screenshot("review-3-confirmed")
    clips["Big stake"].refresh_from_db()
    assert clips["Big stake"].current_attribution.review_state == ReviewState.CONFIRMED
    assert "Big stake" not in page.inner_text("main") and "Small stake" in page.inner_text("main")


def test_create_a_party_through_the_near_match_prompt(page, screenshot):
    label = LabelFactory(name="Northgate")
    admin_of(label)
    recording = RecordingFactory(label=label, title="Glass Tide")
    PartyFactory(label=label, name="Ines Okafor")
    sign_in(page, "ada", "secret-pass-123")
    page.goto(f"/catalog/recordings/{recording.pk}/")
    page.click("text=New split version")
    page.fill("input[name=effective_from]", "2026-01-01")
    page.fill("input[name=party_0]", "Ines Okafr")
    page.fill("input[name=share_0]", "0.6")
    page.fill("input[name=party_1]", "Marta Quinn")
    page.fill("input[name=share_1]", "0.4")
    page.click("button:has-text('Save split version')")
    page.wait_for_selector("#split-confirm")
    near = page.locator("fieldset[data-name='Ines Okafr'] label", has_text="use the existing party")
    assert "Ines Okafor" in near.inner_text()
    screenshot("party-1-near-match-prompt")
    page.check("fieldset[data-name='Ines Okafr'] input[value='Ines Okafor']")
    page.check("fieldset[data-name='Marta Quinn'] input[value='__new__']")
    page.click("button:has-text('Save the split')")
    page.wait_for_selector("text=new party Marta Quinn")
    screenshot("party-2-saved")
    assert not Party.objects.filter(name="Ines Okafr").exists()
    assert Party.objects.filter(label=label, name="Marta Quinn").count() == 1


def test_phone_width_has_no_horizontal_scroll(browser, live_server):
    label, period, _ = demo_like_month()
    admin_of(label)
    clip = ClipFactory(label=label, partner=PartnerFactory(), title="A generated clip with a long title")
    attribute(clip, {RecordingFactory(label=label): "0.5"}, evidence={"duration_seconds": 20.0})
    context = browser.new_context(base_url=live_server.url, viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, "ada", "secret-pass-123")
        for name, path in (("dashboard", "/royalties/dashboard/"), ("clip", f"/clips/{clip.pk}/"),
                           ("period", f"/royalties/periods/{period.pk}/")):  # fmt: skip
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{name}: {width} px wide at {PHONE['width']} px"
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT_DIR / f"phone-{name}.png"), full_page=True)
    finally:
        context.close()


def test_invite_a_user_and_sign_in_as_them(page, screenshot):
    label = LabelFactory(name="Northgate")
    admin_of(label)
    RecordingFactory(label=label)
    sign_in(page, "ada", "secret-pass-123")
    page.click("nav >> text=Members")
    page.fill("#invite input[name=email]", "rita@example.org")
    page.select_option("#invite select[name=role]", "rights_manager")
    page.click("#invite button[type=submit]")
    page.wait_for_selector("#invitation-link")
    link = page.inner_text("#invitation-link code").strip()
    screenshot("invite-1-link")
    page.click("text=Sign out")
    page.goto(link)
    page.fill("input[name=new_password1]", "rita's long passphrase")
    page.fill("input[name=new_password2]", "rita's long passphrase")
    page.click("button:has-text('Set password')")
    page.wait_for_selector("text=Password set")
    sign_in(page, "rita@example.org", "rita's long passphrase")
    assert "Rights manager" in page.inner_text(".who") and "Northgate" in page.inner_text(".who")
    screenshot("invite-2-signed-in")
