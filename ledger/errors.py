"""Typed ledger errors. Each has a stable `code` (see config.errors)."""

from config.errors import Conflict, InvalidInput


class LedgerError(InvalidInput):
    code = "ledger_error"


class UnbalancedTransaction(LedgerError):
    code = "ledger_unbalanced"


class InvalidPosting(LedgerError):
    code = "ledger_invalid_posting"


class InvalidCurrency(LedgerError):
    code = "invalid_currency"


class ImmutableRecord(LedgerError):
    code = "ledger_immutable"


class IdempotencyConflict(Conflict, LedgerError):
    """The key was used before with different postings (HTTP 409)."""

    code = "idempotency_conflict"
