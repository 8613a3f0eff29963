"""Deals, usage, periods, statements and payouts (filled in by the ledger issue)."""
