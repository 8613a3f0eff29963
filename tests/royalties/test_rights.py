"""Rights per share in the close: the worked examples of docs/royalties.md ("Rights per share"), each
computed by hand in its docstring, and the properties (every cent lands; master parties never receive
composition money)."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fingerprinting.models import ReviewState, ShareRight
from ledger.models import Transaction
from ledger.selectors import account_balance_by_code, transaction_is_balanced
from royalties.models import Period, Statement, StatementLine
from royalties.reconcile import period_reconcile
from royalties.services import period_close
from tests.factories import LabelFactory, PartnerFactory, PartyFactory, RecordingFactory, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db
OCT = date(2026, 10, 15)
COMPOSITION = ShareRight.COMPOSITION
ZERO = Decimal(0)


def closing(party) -> Decimal:
    statement = Statement.objects.filter(party=party).first()
    return statement.closing_balance if statement else ZERO


def lines_of(party) -> set[tuple]:
    return {
        (line.kind, line.recording.title, line.right, line.right_type, line.amount_exact.normalize())
        for line in StatementLine.objects.filter(statement__party=party).select_related("recording")
    }


@pytest.fixture
def catalog(label):
    """A: master Ada 100 %, publishing Ada 50 % / PubCo 50 %. B: master Bea 100 %, publishing Cole 100 %."""
    ada, pubco, bea, cole = (PartyFactory(label=label, name=n) for n in ("Ada", "PubCo", "Bea", "Cole"))
    a, b = RecordingFactory(label=label, title="A"), RecordingFactory(label=label, title="B")
    split_for(a, {ada: "1"})
    split_for(a, {ada: "0.5", pubco: "0.5"}, right_type="publishing")
    split_for(b, {bea: "1"})
    split_for(b, {cole: "1"}, right_type="publishing")
    return {"ada": ada, "pubco": pubco, "bea": bea, "cole": cole, "a": a, "b": b}


def test_verbatim_and_composition_shares_pay_their_rights(label, partner, catalog):
    """Revenue 100.00 at rate 0.5 -> pool 50.00; the deal pays 60 % master, 40 % publishing, all of
    the pool by attribution. The clip: A 0.6 recording (verbatim), B 0.3 composition, 0.1 unattributed.

      master part 30.00:      A (recording)   30.00 x 0.6 = 18.00 -> A's master split: Ada 18.00
                              B (composition) 30.00 x 0.3 =  9.00 -> no master was reused: the label
                              unattributed    30.00 x 0.1 =  3.00 -> master pro-rata, equal per recording
                                                                     with a master split: A 1.50, B 1.50
      publishing part 20.00:  A (recording)   20.00 x 0.6 = 12.00 -> Ada 6.00, PubCo 6.00
                              B (composition) 20.00 x 0.3 =  6.00 -> Cole 6.00
                              unattributed    20.00 x 0.1 =  2.00 -> publishing pro-rata: A 1.00
                                                                     (Ada 0.50, PubCo 0.50), B 1.00 (Cole)
    Ada 18.00 + 1.50 + 6.00 + 0.50 = 26.00; PubCo 6.50; Bea 1.50 (the remainder's pro-rata only,
    nothing of B's composition share); Cole 7.00; label 9.00. 26.00 + 6.50 + 1.50 + 7.00 + 9.00 = 50.00.
    """
    deal(label, partner, rate="0.5", publishing_fraction="0.4")
    clip = ClipFactory(label=label, partner=partner)
    attribute(
        clip,
        {catalog["a"]: "0.6", catalog["b"]: "0.3"},
        unattributed="0.1",
        rights={catalog["b"]: COMPOSITION},
    )
    usage(clip, "100.00", day=OCT)

    period_close(label=label, period="2026-10")

    assert {name: closing(catalog[name]) for name in ("ada", "pubco", "bea", "cole")} == {
        "ada": Decimal("26.00"),
        "pubco": Decimal("6.50"),
        "bea": Decimal("1.50"),
        "cole": Decimal("7.00"),
    }
    assert account_balance_by_code(code=f"label:{label.pk}:royalty_share", currency="EUR") == Decimal("9.00")
    assert lines_of(catalog["ada"]) == {
        ("earning", "A", "recording", "master", Decimal("18")),
        ("earning", "A", "recording", "publishing", Decimal("6")),
        ("pro_rata", "A", "", "master", Decimal("1.5")),
        ("pro_rata", "A", "", "publishing", Decimal("0.5")),
    }
    assert lines_of(catalog["cole"]) == {
        ("earning", "B", "composition", "publishing", Decimal("6")),
        ("pro_rata", "B", "", "publishing", Decimal("1")),
    }
    assert lines_of(catalog["bea"]) == {("pro_rata", "B", "", "master", Decimal("1.5"))}
    summary = Period.objects.get(label=label).summary["currencies"]["EUR"]
    assert {
        k: Decimal(summary[k]) for k in ("master_exact", "publishing_exact", "composition_kept_exact")
    } == {
        "master_exact": Decimal("21"),  # 18.00 to A's master + 3.00 master pro-rata
        "publishing_exact": Decimal("20"),  # 12.00 + 6.00 + 2.00
        "composition_kept_exact": Decimal("9"),
    }
    assert period_reconcile(label=label, period="2026-10").ok


def test_pro_rata_by_attributed_share_weighs_each_right_by_what_it_earned(label, partner, catalog):
    """The same clip and deal terms, with 20 % of the pool pro-rata (attributed fraction 0.8) paid by
    attributed share. Revenue 150.00 at 0.5 -> pool 75.00: master part 45.00, publishing part 30.00.

      master, attributed 36.00:      A 21.60 (Ada); B's 10.80 kept by the label; remainder 3.60
      publishing, attributed 24.00:  A 14.40 (Ada 7.20, PubCo 7.20); B 7.20 (Cole); remainder 2.40
      master pro-rata 45.00 x 0.2 + 3.60 = 12.60, weighed by master earnings: A 21.60, B none (a
        composition share earns no master) -> all to A: Ada 12.60
      publishing pro-rata 30.00 x 0.2 + 2.40 = 8.40, weighed A 14.40 : B 7.20 = 2 : 1 -> A 5.60
        (Ada 2.80, PubCo 2.80), B 2.80 (Cole)
    Ada 21.60 + 12.60 + 7.20 + 2.80 = 44.20; PubCo 10.00; Cole 10.00; Bea nothing (no statement);
    label 10.80. 44.20 + 10.00 + 10.00 + 10.80 = 75.00.
    """
    deal(label, partner, rate="0.5", publishing_fraction="0.4", attributed_fraction="0.8",
         pro_rata_rule="by_attributed_share")  # fmt: skip
    clip = ClipFactory(label=label, partner=partner)
    attribute(
        clip,
        {catalog["a"]: "0.6", catalog["b"]: "0.3"},
        unattributed="0.1",
        rights={catalog["b"]: COMPOSITION},
    )
    usage(clip, "150.00", day=OCT)

    period_close(label=label, period="2026-10")

    assert {name: closing(catalog[name]) for name in ("ada", "pubco", "bea", "cole")} == {
        "ada": Decimal("44.20"),
        "pubco": Decimal("10.00"),
        "bea": ZERO,
        "cole": Decimal("10.00"),
    }
    assert not Statement.objects.filter(party=catalog["bea"]).exists()
    assert account_balance_by_code(code=f"label:{label.pk}:royalty_share", currency="EUR") == Decimal("10.80")
    assert period_reconcile(label=label, period="2026-10").ok


def test_a_master_licence_pays_no_one_for_a_composition_share(label, partner, catalog):
    """A deal as every deal was before rights existed: all of the pool pays master (publishing 0).
    Revenue 100.00 at 0.5 -> 50.00; the clip is B 1.0 composition: the work is all it took, and this
    licence does not cover works. Bea (B's master) gets nothing, Cole (B's publishing) nothing under
    this deal; the label keeps 50.00."""
    deal(label, partner, rate="0.5")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {catalog["b"]: "1"}, rights={catalog["b"]: COMPOSITION})
    usage(clip, "100.00", day=OCT)

    period_close(label=label, period="2026-10")

    assert not Statement.objects.exists()
    assert account_balance_by_code(code=f"label:{label.pk}:royalty_share", currency="EUR") == Decimal("50.00")
    assert period_reconcile(label=label, period="2026-10").ok


def test_a_composition_share_without_a_publishing_split_pays_the_label(label, partner):
    """A recording with only a master split (Dee 100 %): its composition share's publishing part has
    no split to pay, so the label keeps it, like any right without a split in force.
    Revenue 10.00 at rate 1, publishing 0.5: C 1.0 composition -> publishing 5.00 (no split: label),
    master 5.00 (composition: label). Dee gets nothing; the label 10.00."""
    dee = PartyFactory(label=label, name="Dee")
    c = RecordingFactory(label=label, title="C")
    split_for(c, {dee: "1"})
    deal(label, partner, rate="1", publishing_fraction="0.5")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {c: "1"}, rights={c: COMPOSITION})
    usage(clip, "10.00", day=OCT)
    period_close(label=label, period="2026-10")
    assert closing(dee) == ZERO
    assert account_balance_by_code(code=f"label:{label.pk}:royalty_share", currency="EUR") == Decimal("10.00")


def test_a_reviewer_turning_a_share_into_composition_is_revised_in_the_next_close(label, partner, catalog):
    """Sep: the clip is A 1.0 recording; revenue 100.00 at 0.5, publishing 0.4 -> Ada 30.00 master +
    10.00 publishing, PubCo 10.00. After the close a reviewer says the clip only re-performs A's song:
    A 1.0 composition (a new version). Oct, no new usage, adjustment lines referencing Sep:
      Ada: -30.00 (recording, master) -10.00 (recording, publishing) +10.00 (composition, publishing)
      PubCo: -10.00 (recording, publishing) +10.00 (composition, publishing)
      label: +30.00, the master part of the composition share.
    Ada's adjustments -30.00 (closing 10.00); PubCo's 0.00 (closing 10.00)."""
    deal(label, partner, rate="0.5", publishing_fraction="0.4")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {catalog["a"]: "1"})
    usage(clip, "100.00", day=date(2026, 9, 10))
    period_close(label=label, period="2026-09")
    assert closing(catalog["ada"]) == Decimal("40.00")

    attribute(
        clip, {catalog["a"]: "1"}, rights={catalog["a"]: COMPOSITION}, review_state=ReviewState.ADJUSTED
    )
    period_close(label=label, period="2026-10")

    def october(party) -> Statement:
        return Statement.objects.get(party=party, period__month=date(2026, 10, 1))

    assert (october(catalog["ada"]).adjustments, october(catalog["ada"]).closing_balance) == (
        Decimal("-30.00"),
        Decimal("10.00"),
    )
    assert (october(catalog["pubco"]).adjustments, october(catalog["pubco"]).closing_balance) == (
        ZERO,
        Decimal("10.00"),
    )
    ada_lines = {
        (line.right, line.right_type, line.amount_exact.normalize())
        for line in StatementLine.objects.filter(statement=october(catalog["ada"]), kind="adjustment")
    }
    assert ada_lines == {
        ("recording", "master", Decimal("-30")),
        ("recording", "publishing", Decimal("-10")),
        ("composition", "publishing", Decimal("10")),
    }
    assert account_balance_by_code(code=f"label:{label.pk}:royalty_share", currency="EUR") == Decimal("30.00")
    assert period_reconcile(label=label, period="2026-10").ok


def test_reconcile_exits_0_after_closes_with_mixed_right_attributions(label, partner, catalog):
    """Two months of mixed rights through the commands: recording and composition shares, a clip held
    for review then confirmed with other rights, a label share, a second currency, a party paid in USD.
    `reconcile` must pass (exit 0) after each close."""
    from io import StringIO

    from django.core.management import call_command

    from royalties.services import fx_rate_set, payee_profile_set

    payee_profile_set(party=catalog["cole"], currency="USD")
    for month in (date(2026, 9, 1), date(2026, 10, 1)):
        fx_rate_set(period=month, base="EUR", quote="USD", rate=Decimal("1.0850"), source="test")
    deal(
        label, partner, rate="0.37", publishing_fraction="0.35", attributed_fraction="0.9", label_share="0.05"
    )
    a, b = catalog["a"], catalog["b"]
    held = ClipFactory(label=label, partner=partner)
    attribute(held, {a: "0.5", b: "0.25"}, rights={b: COMPOSITION}, review_state=ReviewState.NEEDS_REVIEW)
    usage(held, "123.45", day=date(2026, 9, 3))
    for n, (shares, rights) in enumerate(
        [({a: "0.6", b: "0.3"}, {b: COMPOSITION}), ({b: "1"}, {b: COMPOSITION}), ({a: "0.333333"}, {})]
    ):
        clip = ClipFactory(label=label, partner=partner)
        attribute(clip, shares, rights=rights)
        usage(clip, f"{17 + n}.31", day=date(2026, 9, 5 + n), currency="USD" if n == 1 else "EUR")
    call_command("close_period", "--label", label.slug, "--period", "2026-09", stdout=StringIO())
    out = StringIO()
    call_command("reconcile", "--label", label.slug, "--period", "2026-09", stdout=out)  # exit 1 would raise
    assert "OK" in out.getvalue()

    attribute(held, {a: "0.5", b: "0.25"}, rights={a: COMPOSITION}, review_state=ReviewState.CONFIRMED)
    usage(held, "9.99", day=date(2026, 10, 3))
    call_command("close_period", "--label", label.slug, "--period", "2026-10", stdout=StringIO())
    out = StringIO()
    call_command("reconcile", "--label", label.slug, "--period", "2026-10", stdout=out)
    assert "OK" in out.getvalue()
    assert StatementLine.objects.filter(right="composition", kind="adjustment").exists()  # the release
    assert not StatementLine.objects.filter(right="composition", right_type="master").exists()


# --- properties -------------------------------------------------------------------------------------

fractions = st.decimals(min_value=0, max_value=1, places=2)
clip_strategy = st.tuples(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(1, 33), st.sampled_from(["recording", "composition"])),
        max_size=3,
        unique_by=lambda t: t[0],
    ),  # shares: (recording, hundredths, right)
    st.decimals(min_value=0, max_value=500, places=2),  # revenue
    st.sampled_from([ReviewState.AUTO_ACCEPTED, ReviewState.CONFIRMED, ReviewState.NEEDS_REVIEW]),
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    clips=st.lists(clip_strategy, min_size=1, max_size=4),
    publishing=fractions,
    attributed=fractions,
    label_share=st.sampled_from(["0", "0.1", "0.25"]),
    rule=st.sampled_from(["equal_per_recording", "by_attributed_share"]),
)
def test_property_every_cent_lands_and_master_parties_never_receive_composition_money(
    clips, publishing, attributed, label_share, rule
):
    """Three recordings, each with a master split among master parties M0-M2 and a publishing split
    among publishing parties W0-W2 (no party in both). Whatever the clips, rights and deal terms:

    - every cent lands: the ledger balances, the period reconciles, and receivable = party payables +
      label share + suspense to the cent;
    - master parties receive exactly the master part of what is paid (the pro-rata part, and the
      attributed part of payable clips less their composition shares): per clip
      (pool - label part) x (1 - p) x [(1 - f) + f x (1 - composition shares)]; nothing of a
      composition share reaches them, and no master-split line names a composition share;
    - publishing parties receive exactly their part, composition shares included:
      (pool - label part) x p x [(1 - f) + f] for payable clips, x (1 - f) for held ones.
    """
    label, partner = LabelFactory(), PartnerFactory()
    masters = [PartyFactory(label=label, name=f"M{i}") for i in range(3)]
    writers = [PartyFactory(label=label, name=f"W{i}") for i in range(3)]
    recordings = [RecordingFactory(label=label) for _ in range(3)]
    split_for(recordings[0], {masters[0]: "0.5", masters[1]: "0.5"})
    split_for(recordings[1], {masters[1]: "1"})
    split_for(recordings[2], {masters[2]: "0.3", masters[0]: "0.7"})
    split_for(recordings[0], {writers[0]: "1"}, right_type="publishing")
    split_for(recordings[1], {writers[1]: "0.25", writers[2]: "0.75"}, right_type="publishing")
    split_for(recordings[2], {writers[2]: "1"}, right_type="publishing")
    deal(label, partner, rate="0.5", publishing_fraction=publishing, attributed_fraction=attributed,
         label_share=label_share, pro_rata_rule=rule)  # fmt: skip
    p, f, s = publishing, attributed, Decimal(label_share)
    want_master, want_publishing = ZERO, ZERO
    for shares, revenue, state in clips:
        clip = ClipFactory(label=label, partner=partner)
        attribute(
            clip,
            {recordings[r]: str(Decimal(n) / 100) for r, n, _ in shares},
            rights={recordings[r]: right for r, _, right in shares},
            review_state=state,
        )
        usage(clip, str(revenue), day=OCT)
        rest = revenue * Decimal("0.5") * (1 - s)
        payable = state != ReviewState.NEEDS_REVIEW
        composition = sum((Decimal(n) / 100 for _, n, right in shares if right == "composition"), ZERO)
        want_master += rest * (1 - p) * ((1 - f) + (f * (1 - composition) if payable else 0))
        want_publishing += rest * p * ((1 - f) + (f if payable else 0))

    period_close(label=label, period="2026-10")

    for txn in Transaction.objects.filter(key__startswith=f"royalties:close:{label.pk}:"):
        assert transaction_is_balanced(txn=txn)
    report = period_reconcile(label=label, period="2026-10")
    assert report.ok, report.problems
    receivable = account_balance_by_code(
        code=f"partner:{partner.pk}:label:{label.pk}:receivable", currency="EUR"
    )
    owed = sum((closing(party) for party in masters + writers), ZERO)
    kept = account_balance_by_code(code=f"label:{label.pk}:royalty_share", currency="EUR")
    held = account_balance_by_code(code=f"label:{label.pk}:suspense", currency="EUR")
    assert receivable == owed + kept + held

    lines = StatementLine.objects.filter(statement__period__label=label)
    assert not lines.filter(right=ShareRight.COMPOSITION, right_type="master").exists()
    got_master = sum((line.amount_exact for line in lines.filter(statement__party__in=masters)), ZERO)
    got_publishing = sum((line.amount_exact for line in lines.filter(statement__party__in=writers)), ZERO)
    # Exact to far below a cent (SQLite stores the exact amounts as floats).
    assert abs(got_master - want_master) < Decimal("0.000001"), (got_master, want_master)
    assert abs(got_publishing - want_publishing) < Decimal("0.000001"), (got_publishing, want_publishing)
    assert not lines.filter(statement__party__in=masters, right_type="publishing").exists()
    assert not lines.filter(statement__party__in=writers, right_type="master").exists()
