"""The monthly close: usage -> pools -> attribution shares -> rights -> splits -> parties, posted and explained.

`close_compute` (compute.py) reads everything and returns a `ClosePlan` (plan.py; nothing is written);
`close_write` (write.py) posts the plan to the ledger and writes allocations, settlements and statements,
in named steps. `royalties.services.period_close` runs both in one database transaction while holding the
period's row lock. The maths is described in docs/royalties.md; in short:

    pool        = net revenue (in the deal currency) x royalty_rate
    label part  = pool x label_share
    attributed  = (pool - label part) x attributed_fraction      -> attribution shares -> rights -> splits
    pro-rata    = (pool - label part) - attributed               -> the deal's pro-rata rule -> splits
                  + attributed x unattributed share of the clip's attribution

Each right takes its part of both (`publishing_fraction` for publishing, the rest for master); a
`recording` share pays the recording's master and publishing splits, a `composition` share only the
publishing split (its master part stays with the label). Everything is computed at full precision
(ledger.money.EXACT); only totals are rounded, per party per currency, by largest remainder, so the
rounded amounts add up to the rounded pool exactly.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from royalties.close.compute import CloseComputation, DealBook, SplitBook, close_compute
from royalties.close.plan import ClosePlan, FxTable
from royalties.close.write import close_write

__all__ = [
    "CloseComputation",
    "ClosePlan",
    "DealBook",
    "FxTable",
    "SplitBook",
    "close_compute",
    "close_write",
    "collector_paused",
]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a close.

    A close makes millions of objects that live until it ends (exact amounts, line keys and totals) and
    no reference cycles worth collecting; the collector's full passes over them were half of the CPU time
    of computing a 1M-line close (bench/close_period.py). Reference counting still frees everything; the
    collector resumes afterwards. It is process-wide: closes run one at a time on the io worker.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
