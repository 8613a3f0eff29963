"""The month selector (royalties.month.period_month): one walk from revenue to payouts, and every page that
shows a closed month's money (dashboard, period page and its CSV, statements, payouts) agrees with it to
the cent, on a demo-like month (held clips, FX, withholding, an advance, the threshold) and on generated
months."""

import random
import re
from datetime import date
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db.models import Sum
from django.urls import reverse

from catalog.models import Role
from fingerprinting.models import ReviewState
from ledger.money import money_quantize
from royalties.models import ClipAllocation, PartnerSettlement, PayoutLine, Period, Statement, StatementLine
from royalties.month import held_reason, party_credits, period_month
from royalties.reconcile import period_reconcile
from royalties.services import (
    advance_grant,
    fx_rate_set,
    label_royalty_settings_set,
    payee_profile_set,
    payout_batch_create,
    period_close,
)
from tests.factories import LabelFactory, PartnerFactory, PartyFactory, RecordingFactory, member, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db

MONTH = date(2026, 9, 1)
LOW_CONFIDENCE = [{"code": "low_confidence", "message": "confidence 0.41 is below 0.60 for share 1"}]


def demo_like_month():
    """A month like the demo's: two same-titled recordings, master and publishing splits, a USD payee, a
    payee with withholding, one with an advance, one under the threshold, two clips held for review."""
    label, partner = LabelFactory(name="Northgate", default_currency="EUR"), PartnerFactory(name="Melodia")
    glass_a = RecordingFactory(label=label, title="Glass Tide", display_artist="Ines Okafor")
    glass_b = RecordingFactory(label=label, title="Glass Tide", display_artist="The Shoals")
    harbour = RecordingFactory(label=label, title="Harbour Lights")
    ines, tide = PartyFactory(label=label, name="Ines Okafor"), PartyFactory(label=label, name="Tidewater")
    shoal, tiny = PartyFactory(label=label, name="Shoal"), PartyFactory(label=label, name="Tiny Share")
    split_for(glass_a, {ines: "0.6", tide: "0.4"})
    split_for(glass_a, {tide: "1"}, right_type="publishing")
    split_for(glass_b, {shoal: "0.99", tiny: "0.01"})
    split_for(harbour, {ines: "0.5", shoal: "0.5"})
    deal(label, partner, attributed_fraction="0.8", label_share="0.1", publishing_fraction="0.3")
    label_royalty_settings_set(label=label, payout_threshold=Decimal("5.00"))
    payee_profile_set(party=tide, currency="USD", iban="GB29NWBK60161331926819", bic="NWBKGB2L")
    payee_profile_set(party=shoal, currency="EUR", withholding_rate=Decimal("0.1"))
    payee_profile_set(party=ines, currency="EUR", iban="DE89370400440532013000", bic="COBADEFFXXX")
    advance_grant(party=ines, amount=Decimal("20.00"), effective_date=date(2026, 8, 1), key="adv-ines")
    fx_rate_set(period=MONTH, base="EUR", quote="USD", rate=Decimal("1.0850"), source="test")
    clips = [ClipFactory(label=label, partner=partner, external_id=f"demo-{n}") for n in range(6)]
    attribute(clips[0], {glass_a: "0.7", harbour: "0.2"})
    attribute(clips[1], {glass_b: "1"})
    attribute(clips[2], {harbour: "0.5"}, review_state=ReviewState.NEEDS_REVIEW)  # held
    attribute(clips[3], {glass_a: "0.4", glass_b: "0.4"})
    attribute(clips[4], {glass_b: "0.3"}, review_state=ReviewState.DISPUTED)  # held
    attribute(clips[5], {harbour: "0.9"})
    for n, clip in enumerate(clips):
        for day in (3, 19):
            usage(clip, f"{37.13 + 11.07 * n + day:.2f}", day=date(2026, 9, day))
    period_close(label=label, period=MONTH)
    payout_batch_create(label=label, currency="EUR")
    return label, Period.objects.get(label=label, month=MONTH), (glass_a, glass_b)


def generated_month(seed: int):
    rng = random.Random(seed)
    label, partner = LabelFactory(default_currency="EUR"), PartnerFactory()
    parties = [PartyFactory(label=label) for _ in range(rng.randint(3, 7))]
    recordings = [RecordingFactory(label=label) for _ in range(rng.randint(3, 8))]
    for recording in recordings:
        chosen = rng.sample(parties, rng.randint(1, min(3, len(parties))))
        cuts = sorted(rng.sample(range(1, 100), len(chosen) - 1))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
        split_for(recording, {p: f"{s / 100:.2f}" for p, s in zip(chosen, shares, strict=True)})
    deal(label, partner, rate=f"0.{rng.randint(1, 9)}", attributed_fraction=f"0.{rng.randint(1, 9)}",
         label_share=f"0.{rng.randint(0, 3)}")  # fmt: skip
    label_royalty_settings_set(label=label, payout_threshold=Decimal(rng.choice(["0.00", "3.00", "25.00"])))
    for party in parties:
        if rng.random() < 0.3:
            payee_profile_set(party=party, currency="EUR", withholding_rate=Decimal("0.15"))
        elif rng.random() < 0.2:
            payee_profile_set(party=party, currency="USD")
    fx_rate_set(period=MONTH, base="EUR", quote="USD", rate=Decimal("1.0731"), source="test")
    states = [ReviewState.AUTO_ACCEPTED] * 4 + [ReviewState.NEEDS_REVIEW, ReviewState.DISPUTED]
    for _ in range(rng.randint(5, 15)):
        clip = ClipFactory(label=label, partner=partner)
        picked = rng.sample(recordings, rng.randint(1, min(3, len(recordings))))
        shares = {r: f"{rng.randint(5, 30) / 100:.2f}" for r in picked}
        attribute(clip, shares, review_state=rng.choice(states))
        for _ in range(rng.randint(1, 3)):
            usage(clip, f"{rng.uniform(0.01, 80):.6f}", day=date(2026, 9, rng.randint(1, 30)))
    period_close(label=label, period=MONTH)
    payout_batch_create(label=label, currency="EUR")
    return label, Period.objects.get(label=label, month=MONTH)


def figures(html: str) -> dict[tuple[str, str], str]:
    """(currency, figure) -> the amount shown, from every walk table of a page."""
    found = {}
    for currency, body in re.findall(r'<table class="walk" data-currency="(\w+)">(.*?)</table>', html, re.S):
        for name, cell in re.findall(r'data-figure="(\w+)">(.*?)</td>', body, re.S):
            found[(currency, name)] = re.sub(r"<[^>]+>", " ", cell).split()[0]
    return found


def assert_month_agrees(client, label, period):
    month = period_month(period=period)
    report = period_reconcile(label=label, period=period.month)
    assert report.ok, report.problems
    for c in month.currencies:
        # The walk adds up (the close's one transaction), and the ledger says the same.
        assert c.balanced
        rec = next(r for r in report.currencies if r.currency == c.currency)
        assert (rec.receivable, rec.party_earnings, rec.label_share) == (c.receivable, c.parties, c.label)
        assert rec.undistributed == c.held - c.released
        held = ClipAllocation.objects.filter(period=period, currency=c.currency).aggregate(
            t=Sum("held_amount")
        )
        assert money_quantize(Decimal(str(held["t"] or 0)), c.currency) == c.held
        due = PartnerSettlement.objects.filter(period=period, currency=c.currency).aggregate(
            t=Sum("amount_due")
        )
        assert money_quantize(Decimal(str(due["t"])), c.currency) == c.receivable
        # Exact line sums meet the rounded party total within a cent per party.
        assert abs(c.parties_rounding) <= Decimal("0.01") * Statement.objects.filter(period=period).count()
    for t in month.statement_totals:
        statements = Statement.objects.filter(period=period, currency=t.currency)
        assert t.earnings + t.adjustments == party_credits(month, t.currency)
        assert t.closing == sum((s.closing_balance for s in statements), Decimal(0))
        assert t.carried_forward == sum(
            (s.closing_balance for s in statements if s.carried_forward), Decimal(0)
        )
        paid = PayoutLine.objects.filter(statement__period=period, currency=t.currency).aggregate(
            t=Sum("amount")
        )
        assert t.batched == money_quantize(Decimal(str(paid["t"] or 0)), t.currency)
        if t.currency == "EUR":  # the batch made right after the close pays exactly what is due
            assert t.batched == t.due
            assert sum((b.amount for b in month.batches if b.currency == "EUR"), Decimal(0)) == t.due

    cache.clear()
    dashboard = client.get(reverse("royalties:dashboard")).content.decode()
    page = client.get(reverse("royalties:period-detail", args=[period.pk])).content.decode()
    on_dashboard, on_page = figures(dashboard), figures(page)
    assert on_dashboard and all(on_page[key] == value for key, value in on_dashboard.items())
    for c in month.currencies:
        assert on_page[(c.currency, "parties")] == f"{c.parties:,.2f}"
        assert on_page[(c.currency, "held")] == f"{c.held:,.2f}"
    for p in month.parties:
        statement = client.get(reverse("royalties:statement-detail", args=[p.statement_id])).content.decode()
        assert f"{p.closing:,.2f}" in statement
    payouts = client.get(reverse("royalties:payout-list")).content.decode()
    for b in month.batches:
        assert f"{b.amount:,.2f} {b.currency}" in payouts
    csv = client.get(reverse("royalties:period-month-csv", args=[period.pk])).content.decode()
    for c in month.currencies:
        assert f"walk,party_earnings,{c.currency},{c.parties:f}" in csv
    return month


def test_demo_like_month_agrees_on_every_page(client):
    label, period, _ = demo_like_month()
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    month = assert_month_agrees(client, label, period)
    assert month.held_total_count == 2 and {h.external_id for h in month.held} == {"demo-2", "demo-4"}
    reasons = {h.external_id: h.reason for h in month.held}
    assert reasons["demo-4"] == "disputed" and reasons["demo-2"] == "waiting for review"
    eur = month.statement_total("EUR")
    assert eur.threshold == Decimal("5.00") and eur.carried_forward_count == 1  # Tiny Share's 1 %
    assert month.statement_total("USD").fx > 0 and eur.withholding > 0 and eur.recouped == Decimal("20.00")


def test_month_page_lists_held_clips_with_reason_and_link(client):
    label, period, _ = demo_like_month()
    client.force_login(member("vic", label, Role.VIEWER))
    page = client.get(reverse("royalties:period-detail", args=[period.pk])).content.decode()
    held = ClipAllocation.objects.filter(period=period).exclude(held_amount=0)
    for allocation in held:
        assert reverse("fingerprinting:clip-detail", args=[allocation.clip_id]) in page
    assert "disputed" in page and "threshold" in page and "5.00" in page


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_generated_month_agrees_on_every_page(client, seed):
    label, period = generated_month(seed)
    client.force_login(member(f"gen{seed}", label, Role.VIEWER))
    assert_month_agrees(client, label, period)


def test_top_recordings_by_earnings_keeps_same_titled_recordings_apart(client):
    label, period, (glass_a, glass_b) = demo_like_month()
    client.force_login(member("rita", label, Role.RIGHTS_MANAGER))
    cache.clear()
    earnings = client.get(reverse("royalties:dashboard")).context["earnings"]
    rows = {r["recording_id"]: r for r in earnings}
    assert glass_a.pk in rows and glass_b.pk in rows
    for recording in (glass_a, glass_b):
        total = StatementLine.objects.filter(statement__period=period, recording=recording).aggregate(
            t=Sum("amount_exact")
        )["t"]
        assert rows[recording.pk]["shown"] == f"{money_quantize(Decimal(str(total)), 'EUR'):,} EUR"
        assert rows[recording.pk]["isrc"] == recording.isrc
        assert rows[recording.pk]["artist"] == recording.display_artist


def test_periods_page_counts_usage_lines(client):
    label, period, _ = demo_like_month()
    client.force_login(member("vic", label, Role.VIEWER))
    response = client.get(reverse("royalties:period-list"))
    row = next(p for p in response.context["periods"] if p.pk == period.pk)
    assert row.usage_lines == 12 and row.statement_count == Statement.objects.filter(period=period).count()


def test_month_csv_is_scoped_to_the_label(client):
    _, period, _ = demo_like_month()
    client.force_login(member("bob", LabelFactory(), Role.ADMIN))
    assert client.get(reverse("royalties:period-month-csv", args=[period.pk])).status_code == 404


def test_held_reason_words():
    assert held_reason(None, None) == "no attribution yet"
    assert held_reason(ReviewState.DISPUTED, []) == "disputed"
    assert held_reason(ReviewState.NEEDS_REVIEW, LOW_CONFIDENCE) == LOW_CONFIDENCE[0]["message"]


def test_summary_line_totals_equal_the_statement_lines():
    """The close writes each kind's line sum and the top recordings into its summary; they equal what
    adding up the statement lines gives (the fallback for periods closed before)."""
    from royalties.dashboard import _top_by_earnings_query, top_by_earnings

    label, period = generated_month(5)
    written = period_month(period=period)
    assert "lines_exact" in period.summary and "top_recordings" in period.summary
    top = top_by_earnings(period=period)
    period.summary = {k: v for k, v in period.summary.items() if k not in {"lines_exact", "top_recordings"}}
    for figures in period.summary["currencies"].values():
        del figures["attributed_pool_exact"], figures["held_clips"]
    added = period_month(period=period)
    for mine, theirs in zip(written.currencies, added.currencies, strict=True):
        assert (mine.paid_by_shares, mine.paid_pro_rata, mine.adjustments) == (
            theirs.paid_by_shares, theirs.paid_pro_rata, theirs.adjustments
        )  # fmt: skip
        assert (mine.attributed_pool, mine.held_clips) == (theirs.attributed_pool, theirs.held_clips)
    assert [t.fx for t in written.statement_totals] == [t.fx for t in added.statement_totals]
    assert [r["recording_id"] for r in top] == [r["recording_id"] for r in _top_by_earnings_query(period)]
