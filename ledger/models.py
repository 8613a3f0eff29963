"""The double-entry ledger (filled in by the ledger issue). Knows nothing about music."""
