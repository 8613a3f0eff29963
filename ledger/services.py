"""Functions that write the ledger. `transaction_post` is the only writer of transactions and postings."""

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction

from ledger.errors import IdempotencyConflict, InvalidPosting, UnbalancedTransaction
from ledger.models import Account, Posting, Transaction
from ledger.money import is_quantized, minor_units


@dataclass(frozen=True)
class PostingSpec:
    account: Account
    amount: Decimal  # positive = debit, negative = credit


@dataclass(frozen=True)
class AccountSpec:
    code: str
    kind: str
    currency: str
    name: str = ""
    owner_key: str = ""


def _check_postings(postings: Sequence[PostingSpec]) -> None:
    if len(postings) < 2:
        raise InvalidPosting("a transaction needs at least two postings")
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for spec in postings:
        amount, account = spec.amount, spec.account
        if account.pk is None:
            raise InvalidPosting(f"account {account.code} is not saved")
        if not isinstance(amount, Decimal) or not amount.is_finite():
            raise InvalidPosting(f"amount {amount!r} on {account.code} is not a finite Decimal")
        if amount == 0:
            raise InvalidPosting(f"a posting to {account.code} has a zero amount")
        minor_units(account.currency)  # rejects unknown currencies
        if not is_quantized(amount, account.currency):
            raise InvalidPosting(
                f"amount {amount} on {account.code} is not in {account.currency} minor units"
            )
        totals[account.currency] += amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced:
        detail = ", ".join(f"{c} {t}" for c, t in sorted(unbalanced.items()))
        raise UnbalancedTransaction(f"postings do not sum to zero per currency: {detail}")


def _fingerprint(postings: Sequence[PostingSpec], effective_date: date) -> str:
    """A digest of what the transaction says, independent of posting order and of Decimal exponents."""
    lines = sorted(f"{p.account.pk}|{p.account.currency}|{p.amount.normalize():f}" for p in postings)
    digest = hashlib.sha256(effective_date.isoformat().encode())
    for line in lines:
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()


def _replay(existing: Transaction, fingerprint: str) -> Transaction:
    if existing.fingerprint != fingerprint:
        raise IdempotencyConflict(
            f"ledger key {existing.key!r} was already used for different postings",
            fields={"key": [existing.key]},
        )
    return existing


@transaction.atomic
def transaction_post(
    *, key: str, postings: list[PostingSpec], effective_date: date, memo: str = ""
) -> Transaction:
    """Post a balanced transaction once. Replaying a key with the same postings returns the first one."""
    if not key:
        raise InvalidPosting("a ledger transaction needs an idempotency key")
    _check_postings(postings)
    fingerprint = _fingerprint(postings, effective_date)
    existing = Transaction.objects.filter(key=key).first()
    if existing is not None:
        return _replay(existing, fingerprint)
    try:
        # A savepoint: a concurrent poster of the same key makes this insert wait, then fail; we then
        # answer with its transaction (or a conflict) instead of failing the caller's transaction.
        with transaction.atomic():
            txn = Transaction.objects.create(
                key=key, memo=memo[:500], effective_date=effective_date, fingerprint=fingerprint
            )
    except IntegrityError:
        return _replay(Transaction.objects.get(key=key), fingerprint)
    Posting.objects.bulk_create(
        [
            Posting(transaction=txn, account=p.account, amount=p.amount, currency=p.account.currency)
            for p in postings
        ],
        batch_size=5000,
    )
    return txn


@transaction.atomic
def transaction_reverse(
    *, original: Transaction, key: str, effective_date: date, memo: str = ""
) -> Transaction:
    """A new transaction with every posting of `original` negated: the only way to correct the ledger."""
    postings = [
        PostingSpec(account=p.account, amount=-p.amount)
        for p in original.postings.select_related("account").order_by("id")
    ]
    return transaction_post(
        key=key, postings=postings, effective_date=effective_date, memo=memo or f"reversal of {original.key}"
    )


@transaction.atomic
def accounts_ensure(*, specs: Iterable[AccountSpec]) -> dict[tuple[str, str], Account]:
    """The accounts for (code, currency), created when missing; one query each way, whatever the count."""
    wanted = {(s.code, s.currency): s for s in specs}
    if not wanted:
        return {}
    for _, currency in wanted:
        minor_units(currency)
    codes = {code for code, _ in wanted}
    found = {(a.code, a.currency): a for a in Account.objects.filter(code__in=codes)}
    missing = [s for k, s in wanted.items() if k not in found]
    if missing:
        Account.objects.bulk_create(
            [
                Account(code=s.code, kind=s.kind, currency=s.currency, name=s.name, owner_key=s.owner_key)
                for s in missing
            ],
            ignore_conflicts=True,
            batch_size=5000,
        )
        found = {(a.code, a.currency): a for a in Account.objects.filter(code__in=codes)}
    return {k: found[k] for k in wanted}


def account_ensure(*, code: str, kind: str, currency: str, name: str = "", owner_key: str = "") -> Account:
    spec = AccountSpec(code=code, kind=kind, currency=currency, name=name, owner_key=owner_key)
    return accounts_ensure(specs=[spec])[(code, currency)]
