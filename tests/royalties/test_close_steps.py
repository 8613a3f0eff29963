"""Each step of royalties.close.write on its own, with a plan made by hand (docs/royalties.md, "The close").

The computing steps need no database; the posting and writing steps are checked against the ledger and
the rows they write."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.models import Label
from ledger.models import Posting, Transaction
from ledger.selectors import account_balance_by_code, transaction_is_balanced
from royalties.close.compute import DealRights
from royalties.close.plan import (
    LABEL_KEY,
    SUSPENSE_KEY,
    Allocation,
    ClosePlan,
    CurrencyBook,
    DealTotals,
    FxTable,
    LineKey,
    LineTotal,
    SettlementTotals,
)
from royalties.close.write import (
    CloseAccounts,
    Conversion,
    LedgerFigures,
    PartyFigures,
    PartyTotals,
    RoundedCurrency,
    build_statements,
    party_figures,
    party_totals,
    post_allocation,
    post_fx,
    post_withholding_and_recoupment,
    round_currencies,
    write_explanations,
)
from royalties.models import (
    ClipAllocation,
    Deal,
    PartnerSettlement,
    PayeeProfile,
    Period,
    Statement,
    StatementLine,
)
from tests.factories import LabelFactory, PartnerFactory, PartyFactory, RecordingFactory
from tests.royalties.factories import ClipFactory, deal

OCT = date(2026, 10, 1)
D = Decimal
ZERO = Decimal(0)


def plan_of(books: dict[str, CurrencyBook], *, period: Period | None = None, rates=None, allocations=None):
    period = period or Period(label=Label(slug="north", default_currency="EUR"), month=OCT)
    return ClosePlan(
        period=period,
        books=books,
        allocations=allocations or [],
        revised_ids=[],
        lines={},
        settlements={},
        fx=FxTable(OCT, rates or {}),
    )


def book(
    currency="EUR", *, sources=None, parties=None, label=ZERO, holds=None, adjustments=None
) -> CurrencyBook:
    b = CurrencyBook(currency)
    b.sources.update(sources or {})
    b.parties.update(parties or {})
    b.party_adjustments.update(adjustments or {})
    b.label = label
    b.holds = dict(holds or {})
    return b


def allocation(held_exact: Decimal) -> Allocation:
    return Allocation(
        deal_id=1, clip_id=1, kind="usage", split_on=OCT, currency="EUR", usage_count=0,
        pool_exact=held_exact, attributed_exact=held_exact, attribution_id=None, payable=False,
    )  # fmt: skip


# --- DealRights -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("publishing", "recording", "composition", "kept"),
    [
        ("0", (("master", None),), (), D(1)),  # a master licence: a composition share pays no one
        ("1", (("publishing", None),), (("publishing", None),), None),  # publishing: both shares alike
        ("0.4", (("master", D("0.6")), ("publishing", D("0.4"))), (("publishing", D("0.4")),), D("0.6")),
    ],
)
def test_deal_rights_say_what_each_kind_of_share_pays(publishing, recording, composition, kept):
    rights = DealRights.of(Deal(publishing_fraction=D(publishing)))
    assert (rights.recording, rights.composition, rights.composition_kept) == (recording, composition, kept)


# --- 1. round_currencies ------------------------------------------------------------------------------


def test_rounding_a_currency_by_largest_remainder_on_both_sides():
    """Sources: partner 1 owes 10.005, partner 2 5.003 -> T = round(15.008) = 15.01; floors 10.00 and
    5.00, the missing cent to the larger remainder (partner 1: 0.005) -> 10.01, 5.00.
    Recipients: parties 7 and 8 3.3333.. each, suspense 1.67 (two held clips, 1.00 and 0.67), the label
    the rest, 6.67133..; floors 3.33 + 3.33 + 6.67 + 1.67 = 15.00, the missing cent to the largest
    remainder, a tie of parties 7 and 8 (0.00333..) broken by the smaller key: party 7 -> 3.34.
    The held 1.67 splits 1.00 / 0.67 over the clips."""
    third = D(10) / 3
    b = book(
        sources={("partner", 1): D("10.005"), ("partner", 2): D("5.003")},
        parties={7: third, 8: third},
        label=D("15.008") - 2 * third - D("1.67"),
        holds={0: D("1.0"), 1: D("0.67")},
    )
    plan = plan_of({"EUR": b}, allocations=[allocation(D("1.0")), allocation(D("0.67"))])
    (r,) = round_currencies(plan).values()
    assert r.total == D("15.01")
    assert r.receivables == {1: D("10.01"), 2: D("5.00")}
    assert r.parties == {7: D("3.34"), 8: D("3.33")}
    assert (r.label, r.held, r.released) == (D("6.67"), D("1.67"), 0)
    assert [a.held_amount for a in plan.allocations] == [D("1.00"), D("0.67")]


@settings(max_examples=60, deadline=None)
@given(
    sources=st.lists(st.decimals(min_value=0, max_value=D("1000"), places=6), min_size=1, max_size=4),
    weights=st.lists(st.integers(0, 1000), min_size=1, max_size=6),
    held=st.lists(st.integers(1, 1000), max_size=3),
    currency=st.sampled_from(["EUR", "JPY", "BHD"]),
)
def test_property_every_cent_lands_when_a_currency_is_rounded(sources, weights, held, currency):
    """Whatever the amounts: both sides add up to the rounded total exactly, every recipient is within one
    minor unit of its exact amount, and the held total is spread over the held clips exactly."""
    total_exact = sum(sources, D(0))
    parts = [*weights, *held, 1]  # the last part is the label's
    scale = sum(parts)
    exact = [total_exact * p / scale for p in parts]
    n = len(weights)
    b = book(
        currency,
        sources={("partner", i): s for i, s in enumerate(sources)},
        parties=dict(enumerate(exact[:n])),
        holds={i: v for i, v in enumerate(exact[n:-1])},
        label=exact[-1],
    )
    plan = plan_of({currency: b}, allocations=[allocation(v) for v in exact[n:-1]])
    (r,) = round_currencies(plan).values()
    unit = {"EUR": D("0.01"), "JPY": D(1), "BHD": D("0.001")}[currency]
    assert sum(r.sources.values(), D(0)) == sum(r.recipients.values(), D(0)) == r.total
    assert abs(r.total - total_exact) <= unit / 2
    for party, value in b.parties.items():
        assert abs(r.parties[party] - value) < unit
    assert sum((a.held_amount for a in plan.allocations), D(0)) == r.held


# --- 2. party_totals ----------------------------------------------------------------------------------


def test_party_totals_convert_once_per_source_currency_and_keep_adjustments_apart():
    """Party 7 is paid in USD (payee profile), party 8 in the label's EUR. EUR rounded: 7 -> 10.00 of
    which 4.00 adjustment, 8 -> 5.00; USD rounded: 7 -> 1.00. Rate EUR/USD 1.1: 10.00 EUR -> 11.00 USD
    (adjustment 4.40), plus 1.00 USD. Party 9 earned nothing but carries a balance: it gets totals too."""
    eur = RoundedCurrency(
        "EUR", D("15.00"), {}, {("party", 7): D("10.00"), ("party", 8): D("5.00"), **_rest()}
    )
    usd = RoundedCurrency("USD", D("1.00"), {}, {("party", 7): D("1.00"), **_rest()})
    books = {"EUR": book(adjustments={7: D("4.001")}), "USD": book("USD")}
    plan = plan_of(books, rates={("EUR", "USD"): D("1.1")})
    carried = Statement(party_id=9, currency="EUR", closing_balance=D("3.00"))
    totals = party_totals(
        plan,
        {"EUR": eur, "USD": usd},
        profiles={7: PayeeProfile(party_id=7, currency="USD")},
        previous={9: carried},
    )
    assert sorted(totals) == [7, 8, 9]
    seven = totals[7]
    assert (seven.currency, seven.earnings, seven.adjustments) == ("USD", D("7.60"), D("4.40"))
    assert seven.conversions == [Conversion("EUR", D("10.00"), D("1.1"), D("11.00"))]
    assert (totals[8].currency, totals[8].earnings, totals[8].conversions) == ("EUR", D("5.00"), [])
    assert (totals[9].earnings, totals[9].adjustments) == (0, 0)


def _rest():
    return {LABEL_KEY: D(0), SUSPENSE_KEY: D(0)}


# --- 5. party_figures ---------------------------------------------------------------------------------


def test_withholding_recoupment_payouts_and_threshold():
    """Party 7 (EUR): opening 2.00, earnings 100.00, adjustments -10.00; withholding 15 % of 90.00 =
    13.50; advance outstanding 50.00 -> recouped min(50.00, 90.00 - 13.50) = 50.00; paid 20.00 during the
    month. Closing 2.00 + 90.00 - 13.50 - 50.00 - 20.00 = 8.50, below the 10.00 threshold: carried.
    Party 8 (USD at 1.1): earnings 5.00, advance 30.00 -> recouped 5.00; threshold 10.00 EUR = 11.00 USD."""
    plan = plan_of({}, rates={("EUR", "USD"): D("1.1")})
    totals = {
        7: PartyTotals(7, "EUR", earnings=D("100.00"), adjustments=D("-10.00")),
        8: PartyTotals(8, "USD", earnings=D("5.00")),
    }
    ledger = LedgerFigures(
        advances={("party:7:advance", "EUR"): D("50.00"), ("party:8:advance", "USD"): D("30.00")},
        payouts={("party:7:payable", "EUR"): D("20.00")},
    )
    seven, eight = party_figures(
        plan,
        totals,
        profiles={7: PayeeProfile(party_id=7, currency="EUR", withholding_rate=D("0.15"))},
        previous={7: Statement(party_id=7, currency="EUR", closing_balance=D("2.00"))},
        ledger=ledger,
        threshold=D("10.00"),
    )
    assert (seven.withholding, seven.recouped, seven.paid, seven.closing) == (
        D("13.50"),
        D("50.00"),
        D("20.00"),
        D("8.50"),
    )
    assert seven.carried_forward
    assert (eight.withholding, eight.recouped, eight.closing, eight.threshold) == (
        0,
        D("5.00"),
        0,
        D("11.00"),
    )
    assert not eight.carried_forward


# --- 6. build_statements ------------------------------------------------------------------------------


def test_statements_are_numbered_in_party_order_with_their_non_usage_lines():
    plan = plan_of({})
    conversion = Conversion("USD", D("11.00"), D("0.9"), D("9.90"))
    totals = {3: PartyTotals(3, "EUR", conversions=[conversion]), 5: PartyTotals(5, "EUR")}
    figures = [
        PartyFigures(3, "EUR", D(0), D("9.90"), D(0), D("1.00"), D("0.1"), D(0), D(0), D(0), D(0)),
        PartyFigures(5, "EUR", D(0), D("4.00"), D(0), D(0), D(0), D("8.00"), D("4.00"), D("2.00"), D(0)),
    ]
    statements = build_statements(plan, totals, figures, issued_at=timezone.now())
    assert [(s.party_id, s.number, s.closing_balance) for s in statements.rows] == [
        (3, "NORTH-202610-00001", D("8.90")),
        (5, "NORTH-202610-00002", D("-2.00")),
    ]
    assert [(k.party_id, k.kind, k.currency, t.amount, k.reference) for k, t in statements.extra_lines] == [
        (3, "fx", "USD", D("-11.00"), "converted to EUR at 0.9"),
        (3, "fx", "EUR", D("9.90"), "from 11.00 USD at 0.9"),
        (3, "withholding", "EUR", D("-1.00"), "rate 10.00 %"),
        (5, "recoupment", "EUR", D("-4.00"), "advance outstanding 8.00"),
        (5, "payout", "EUR", D("-2.00"), "payouts in the period"),
    ]


# --- 3, 4, 5: posting ---------------------------------------------------------------------------------


@pytest.fixture
def period(db):
    return Period.objects.create(label=LabelFactory(slug="north", default_currency="EUR"), month=OCT)


@pytest.mark.django_db
def test_post_allocation_is_one_balanced_transaction_per_currency(period):
    """EUR: the partner owes 10.00, 1.00 is released from suspense; parties get 6.00 and 3.00, the label
    1.50, 0.50 is newly held. Debits 10.00 + (1.00 - 0.50) against credits 6.00 + 3.00 + 1.50."""
    partner = PartnerFactory()
    p, q = PartyFactory(label=period.label), PartyFactory(label=period.label)
    r = RoundedCurrency(
        "EUR",
        D("11.00"),
        {("partner", partner.pk): D("10.00"), SUSPENSE_KEY: D("1.00")},
        {
            ("party", p.pk): D("6.00"),
            ("party", q.pk): D("3.00"),
            LABEL_KEY: D("1.50"),
            SUSPENSE_KEY: D("0.50"),
        },
    )
    plan = plan_of({"EUR": book()}, period=period)
    post_allocation(plan, {"EUR": r}, CloseAccounts([]))
    (txn,) = Transaction.objects.all()
    assert txn.key == f"royalties:close:{period.label_id}:2026-10:allocation:EUR" and transaction_is_balanced(
        txn=txn
    )
    label_id = period.label_id
    assert (
        account_balance_by_code(code=f"partner:{partner.pk}:label:{label_id}:receivable", currency="EUR")
        == 10
    )
    assert account_balance_by_code(code=f"party:{p.pk}:payable", currency="EUR") == 6
    assert account_balance_by_code(code=f"label:{label_id}:royalty_share", currency="EUR") == D("1.50")
    assert account_balance_by_code(code=f"label:{label_id}:suspense", currency="EUR") == D(
        "-0.50"
    )  # net release


@pytest.mark.django_db
def test_post_fx_moves_each_converted_total_through_the_clearing_accounts(period):
    p = PartyFactory(label=period.label)
    totals = {
        p.pk: PartyTotals(p.pk, "USD", conversions=[Conversion("EUR", D("10.00"), D("1.1"), D("11.00"))])
    }
    post_fx(plan_of({}, period=period), totals, CloseAccounts([]))
    (txn,) = Transaction.objects.all()
    assert txn.key.endswith(":fx:EUR:USD") and transaction_is_balanced(txn=txn)
    assert account_balance_by_code(code=f"party:{p.pk}:payable", currency="EUR") == D("-10.00")
    assert account_balance_by_code(code=f"party:{p.pk}:payable", currency="USD") == D("11.00")
    assert account_balance_by_code(code=f"label:{period.label_id}:fx_clearing", currency="USD") == D("-11.00")


@pytest.mark.django_db
def test_withholding_and_recoupment_post_against_the_right_accounts(period):
    p = PartyFactory(label=period.label)
    figures = [PartyFigures(p.pk, "EUR", D(0), D(100), D(0), D("13.50"), D("0.15"), D(50), D(50), D(0), D(0))]
    post_withholding_and_recoupment(plan_of({}, period=period), figures, CloseAccounts([]))
    keys = sorted(Transaction.objects.values_list("key", flat=True))
    assert [k.rsplit(":", 2)[-2] for k in keys] == ["recoupment", "withholding"]
    assert account_balance_by_code(code=f"label:{period.label_id}:withholding_tax", currency="EUR") == D(
        "13.50"
    )
    assert account_balance_by_code(code=f"party:{p.pk}:advance", currency="EUR") == D("-50")
    assert Posting.objects.filter(account__code=f"party:{p.pk}:payable").count() == 2


# --- 7. write_explanations ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_write_explanations_writes_allocations_settlements_statements_and_lines_with_rights(period):
    partner = PartnerFactory()
    party = PartyFactory(label=period.label)
    recording = RecordingFactory(label=period.label)
    clip = ClipFactory(label=period.label, partner=partner)
    the_deal = deal(period.label, partner)
    plan = plan_of({"EUR": book()}, period=period)
    plan.allocations = [
        Allocation(
            deal_id=the_deal.pk, clip_id=clip.pk, kind="usage", split_on=OCT, currency="EUR", usage_count=3,
            pool_exact=D("5"), attributed_exact=D("5"), attribution_id=None, payable=False, held_amount=D("5.00"),
        )
    ]  # fmt: skip
    settlement = SettlementTotals(lines=2, usage=3, revenue=D(10), pool=D(5))
    settlement.deals[the_deal.pk] = DealTotals(revenue=D(10), pool=D(5))
    plan.settlements = {(partner.pk, "EUR"): settlement}
    key = LineKey(
        party.pk, "earning", partner.pk, recording.pk, clip.pk, "EUR", "", "composition", "publishing"
    )
    zero = LineKey(party.pk, "earning", partner.pk, recording.pk, clip.pk, "EUR", "", "recording", "master")
    plan.lines = {key: LineTotal(D("2.5"), 3), zero: LineTotal(D(0), 3)}
    rounded = {"EUR": RoundedCurrency("EUR", D("5.00"), {("partner", partner.pk): D("5.00")}, _rest())}
    totals = {party.pk: PartyTotals(party.pk, "EUR")}
    figures = [PartyFigures(party.pk, "EUR", *[D(0)] * 9)]
    statements = build_statements(plan, totals, figures, issued_at=timezone.now())
    write_explanations(plan, rounded, statements, issued_at=timezone.now())
    assert ClipAllocation.objects.get().held_amount == D("5.00")
    assert PartnerSettlement.objects.get().amount_due == D("5.00")
    (line,) = StatementLine.objects.all()  # the line that nets to zero is not written
    assert (line.right, line.right_type, line.usage_count, line.amount_exact) == (
        "composition",
        "publishing",
        3,
        D("2.5"),
    )


def test_the_collector_is_paused_for_a_close_and_restored_after():
    import gc

    from royalties.close import collector_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a close that fails")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller that had paused it keeps it paused
    finally:
        gc.enable()
