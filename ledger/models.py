"""The double-entry ledger. Knows nothing about music: accounts, transactions, postings.

Invariants (enforced by PostgreSQL itself, see migrations/0002_ledger_invariants.py, and checked again in
`ledger.services.transaction_post`, the only writer):
- Every transaction's postings sum to zero in each currency. A deferred constraint trigger checks this at
  commit, so a transaction is written as a whole or not at all. A transaction has at least two postings.
- `Posting.amount <> 0` (CHECK) and is quantized to the currency's minor unit; the posting's currency is
  its account's currency.
- Transactions and postings are append-only: UPDATE, DELETE and TRUNCATE are rejected by triggers.
  Corrections are reversing transactions (`transaction_reverse`), never edits.
- Postings can only be added in the database transaction that created their ledger transaction.
- Balances are sums of postings as of a date (`ledger.selectors.account_balance`); there is no mutable
  balance row.

Sign convention: a posting's amount is positive for a debit and negative for a credit.
"""

from django.db import models
from django.db.models import Q

from ledger.errors import ImmutableRecord

AMOUNT_DIGITS = 24
AMOUNT_PLACES = 4  # enough for every ISO 4217 minor unit (CLF has 4)


class AccountKind(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    INCOME = "income", "Income"
    EXPENSE = "expense", "Expense"
    EQUITY = "equity", "Equity"


# Kinds whose natural balance is a credit (shown positive when postings sum negative).
CREDIT_NORMAL_KINDS = (AccountKind.LIABILITY, AccountKind.INCOME, AccountKind.EQUITY)


class Account(models.Model):
    """One account in one currency. `code` is a structured key, e.g. `party:12:payable`."""

    code = models.CharField(max_length=200)
    name = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)
    owner_key = models.CharField(max_length=100, blank=True, db_index=True)  # e.g. "catalog.party:12"
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["code", "currency"], name="ledger_account_unique_code_currency")
        ]

    def __str__(self) -> str:
        return f"{self.code} [{self.currency}]"

    @property
    def is_credit_normal(self) -> bool:
        return self.kind in CREDIT_NORMAL_KINDS


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableRecord(f"{self.model.__name__} rows are append-only; post a reversal instead")

    def delete(self):
        raise ImmutableRecord(f"{self.model.__name__} rows are append-only; post a reversal instead")


class Transaction(models.Model):
    key = models.CharField(max_length=200, unique=True)  # idempotency key chosen by the caller
    memo = models.CharField(max_length=500, blank=True)
    effective_date = models.DateField(db_index=True)
    fingerprint = models.CharField(max_length=64)  # sha256 of the canonical postings, for replays
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["effective_date", "id"]

    def __str__(self) -> str:
        return f"{self.key} ({self.effective_date})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ImmutableRecord("ledger transactions are never edited")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("ledger transactions are never deleted")


class Posting(models.Model):
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings")
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES)
    currency = models.CharField(max_length=3)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["transaction_id", "id"]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_posting_amount_nonzero")]
        indexes = [
            models.Index(fields=["transaction", "id"], name="ledger_posting_txn_id"),
            models.Index(fields=["account", "transaction"], name="ledger_posting_account_txn"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount} {self.currency}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ImmutableRecord("postings are never edited")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("postings are never deleted")
