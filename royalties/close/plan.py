"""What a close computes before it writes anything: the plan and the named records it is made of.

`royalties.close.compute` fills a `ClosePlan` from usage, attributions, splits and deals; the steps in
`royalties.close.write` round it, post it to the ledger and write its explanations. Amounts here are exact
(ledger.money.EXACT); only the write steps round, per party per currency.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, localcontext
from typing import NamedTuple

from fingerprinting.models import PAYABLE_REVIEW_STATES
from ledger.money import EXACT
from royalties.errors import CloseBlocked
from royalties.models import FxRate, Period

ZERO = Decimal(0)

# Keys of the amounts rounded together per currency (ledger.money.allocate_largest_remainder breaks ties
# by key, so their order is part of the rounding rule): ("partner", id) and ("party", id) tuples sort by
# kind then id, the label and suspense keys after.
LABEL_KEY = ("label", 0)
SUSPENSE_KEY = ("suspense", 0)


def partner_key(partner_id: int) -> tuple[str, int]:
    return ("partner", partner_id)


def party_key(party_id: int) -> tuple[str, int]:
    return ("party", party_id)


class LineKey(NamedTuple):
    """What one statement line is about; amounts with the same key add up into one line."""

    party_id: int
    kind: str  # royalties.models.StatementLineKind
    partner_id: int | None
    recording_id: int | None
    clip_id: int | None
    currency: str
    reference: str
    right: str  # the attribution share's right (recording / composition); "" when no share paid it
    right_type: str  # the split that paid it (master / publishing); "" when no split paid it


@dataclass(slots=True)
class LineTotal:
    amount: Decimal  # exact
    usage_count: int


# One share of an attribution as the close reads it: (recording id, share, right).
ShareRow = tuple[int, Decimal, str]


class AttributionState(NamedTuple):  # a tuple: made for every current attribution (100,000 at full size)
    review_state: str
    unattributed: Decimal

    @property
    def payable(self) -> bool:
        return self.review_state in PAYABLE_REVIEW_STATES


@dataclass
class CurrencyBook:
    """Exact amounts owed in one currency, before rounding.

    Sources (what comes in) = partners' pools + flat-rate voice fees + releases from suspense. Recipients =
    parties + the label + new holds. `by_right`, `label_part` and `composition_kept` explain the same money
    once more, for the summary and the dashboard: sources = label_part + composition_kept +
    by_right[master] + by_right[publishing] + voice + holds.
    """

    currency: str
    sources: dict[tuple[str, int], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    parties: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    party_adjustments: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    label: Decimal = ZERO  # everything the label keeps (its share, unsplit recordings, see below)
    holds: dict[int, Decimal] = field(default_factory=dict)  # allocation index -> held exact
    released: Decimal = ZERO
    pools: Decimal = ZERO
    # Paid through master / publishing (to the split's parties, or the label where no split is in force).
    by_right: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    label_part: Decimal = ZERO  # the deals' label_share of the pools
    # The master part of composition shares: no master of the catalog was reused, so no master owner is
    # owed it; the label keeps it (docs/royalties.md, "Rights per share").
    composition_kept: Decimal = ZERO
    voice: Decimal = ZERO  # paid to voice models' parties (shares of the pool and flat fees)
    # Flat-rate voice fees (rate x uses), owed by the partners on top of the pools: also in `sources`.
    voice_fees: Decimal = ZERO


@dataclass
class Allocation:
    deal_id: int
    clip_id: int
    kind: str  # royalties.models.AllocationKind
    split_on: date
    currency: str
    usage_count: int
    pool_exact: Decimal
    attributed_exact: Decimal
    attribution_id: int | None
    payable: bool
    origin_id: int | None = None
    held_amount: Decimal = ZERO  # set when the month is rounded (write.round_currencies)
    # Exact: the voice model's part held with the clip (its pool share or flat fee), paid to the model's
    # party when the hold is released; the rest of the hold is `attributed_exact`.
    voice_held_exact: Decimal = ZERO


@dataclass
class DealTotals:
    revenue: Decimal = ZERO
    pool: Decimal = ZERO
    voice_fees: Decimal = ZERO


@dataclass
class SettlementTotals:
    """What one partner owes in one currency, before rounding."""

    lines: int = 0
    usage: int = 0
    revenue: Decimal = ZERO
    pool: Decimal = ZERO
    voice_fees: Decimal = ZERO  # flat-rate voice fees, owed on top of the pool
    deals: dict[int, DealTotals] = field(default_factory=lambda: defaultdict(DealTotals))


class FxTable:
    """The period's rate table (1 base = rate quote), read once per close; the inverse of an entered pair
    is used when needed, and a missing pair blocks the close."""

    def __init__(self, month: date, rates: dict[tuple[str, str], Decimal]):
        self.month = month
        self.rates = rates

    @classmethod
    def load(cls, month: date) -> "FxTable":
        return cls(month, {(r.base, r.quote): r.rate for r in FxRate.objects.filter(month=month)})

    def rate(self, base: str, quote: str) -> Decimal:
        if base == quote:
            return Decimal(1)
        if (base, quote) in self.rates:
            return self.rates[(base, quote)]
        if (quote, base) in self.rates:
            with localcontext(EXACT):
                return Decimal(1) / self.rates[(quote, base)]
        raise CloseBlocked(
            f"no FX rate {base}->{quote} for {self.month:%Y-%m}: enter one in the period's rate table",
            fields={"fx": [f"{base}/{quote}"]},
        )


@dataclass
class ClosePlan:
    period: Period
    books: dict[str, CurrencyBook]
    allocations: list[Allocation]
    revised_ids: list[int]  # earlier allocations a revision replaces
    lines: dict[LineKey, LineTotal]
    settlements: dict[tuple[int, str], SettlementTotals]  # (partner id, currency)
    fx: FxTable
    # Parties some of whose money was held this month: a statement each, even with nothing payable.
    held_parties: set[int] = field(default_factory=set)
