"""Functions that read the ledger. Balances are always sums of postings; nothing is cached."""

from datetime import date
from decimal import Decimal

from django.db.models import Sum

from ledger.models import AMOUNT_PLACES, Account, Posting, Transaction

_AMOUNT_QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)


def _exact_sum(value) -> Decimal:
    """A database SUM of postings, exact. Sums of 4-place amounts have 4 places: quantizing changes
    nothing on PostgreSQL and removes the float noise of SQLite, which adds decimals as floats."""
    return Decimal(0) if value is None else Decimal(value).quantize(_AMOUNT_QUANTUM)


def account_balance(*, account: Account, as_of: date | None = None) -> Decimal:
    """The account's balance in its natural sign (credit-normal kinds count credits as positive)."""
    postings = Posting.objects.filter(account=account)
    if as_of is not None:
        postings = postings.filter(transaction__effective_date__lte=as_of)
    total = _exact_sum(postings.aggregate(total=Sum("amount"))["total"])
    return -total if account.is_credit_normal else total


def account_balance_by_code(*, code: str, currency: str, as_of: date | None = None) -> Decimal:
    account = Account.objects.filter(code=code, currency=currency).first()
    return Decimal(0) if account is None else account_balance(account=account, as_of=as_of)


def balances_for_codes(
    *, codes: list[str], as_of: date | None = None, since: date | None = None, key_prefix: str | None = None
) -> dict[tuple[str, str], Decimal]:
    """Raw (debit-positive) sums per (code, currency) for many accounts in one query."""
    postings = Posting.objects.filter(account__code__in=codes)
    if since is not None:
        postings = postings.filter(transaction__effective_date__gte=since)
    if as_of is not None:
        postings = postings.filter(transaction__effective_date__lte=as_of)
    if key_prefix is not None:
        postings = postings.filter(transaction__key__startswith=key_prefix)
    rows = postings.values("account__code", "currency").annotate(total=Sum("amount"))
    return {(r["account__code"], r["currency"]): _exact_sum(r["total"]) for r in rows}


def transaction_is_balanced(*, txn: Transaction) -> bool:
    # Summed in Python: SQLite adds decimals as floats.
    totals: dict[str, Decimal] = {}
    count = 0
    for currency, amount in txn.postings.values_list("currency", "amount"):
        totals[currency] = totals.get(currency, Decimal(0)) + amount
        count += 1
    return count >= 2 and not any(totals.values())
