"""The ledger's invariants as PostgreSQL enforces them, bypassing the Python service."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.models import Account, AccountKind, Transaction
from ledger.services import PostingSpec, account_ensure, transaction_post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_accounts():
    return (
        account_ensure(code="a", kind=AccountKind.ASSET, currency="EUR"),
        account_ensure(code="b", kind=AccountKind.LIABILITY, currency="EUR"),
    )


def _raw_transaction(cursor, key: str) -> int:
    cursor.execute(
        "INSERT INTO ledger_transaction (key, memo, effective_date, fingerprint, created_at) "
        "VALUES (%s, '', '2026-10-31', '', now()) RETURNING id",
        [key],
    )
    return cursor.fetchone()[0]


def _raw_posting(cursor, txn_id: int, account: Account, amount: str) -> None:
    cursor.execute(
        "INSERT INTO ledger_posting (transaction_id, account_id, amount, currency) VALUES (%s, %s, %s, %s)",
        [txn_id, account.pk, Decimal(amount), account.currency],
    )


def test_unbalanced_transaction_fails_at_commit(two_accounts):
    a, b = two_accounts
    with (
        pytest.raises(IntegrityError, match="does not balance"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        txn_id = _raw_transaction(cursor, "raw-unbalanced")
        _raw_posting(cursor, txn_id, a, "10.00")
        _raw_posting(cursor, txn_id, b, "-9.00")  # accepted here: the check runs at commit
    assert not Transaction.objects.filter(key="raw-unbalanced").exists()


def test_balanced_raw_transaction_commits(two_accounts):
    a, b = two_accounts
    with transaction.atomic(), connection.cursor() as cursor:
        txn_id = _raw_transaction(cursor, "raw-ok")
        _raw_posting(cursor, txn_id, a, "10.00")
        _raw_posting(cursor, txn_id, b, "-10.00")
    assert Transaction.objects.filter(key="raw-ok").exists()


def test_transaction_without_postings_fails_at_commit():
    with (
        pytest.raises(IntegrityError, match="fewer than two postings"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        _raw_transaction(cursor, "raw-empty")


def test_zero_amount_is_rejected_by_check(two_accounts):
    a, _ = two_accounts
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        txn_id = _raw_transaction(cursor, "raw-zero")
        _raw_posting(cursor, txn_id, a, "0")


def test_posting_currency_must_match_account(two_accounts):
    a, _ = two_accounts
    with pytest.raises(IntegrityError, match="currency"), transaction.atomic(), connection.cursor() as cursor:
        txn_id = _raw_transaction(cursor, "raw-currency")
        cursor.execute(
            "INSERT INTO ledger_posting (transaction_id, account_id, amount, currency) "
            "VALUES (%s, %s, 1, 'USD')",
            [txn_id, a.pk],
        )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_posting SET amount = amount * 2",
        "DELETE FROM ledger_posting",
        "UPDATE ledger_transaction SET memo = 'changed'",
        "DELETE FROM ledger_transaction",
    ],
)
def test_update_and_delete_are_rejected(two_accounts, statement):
    a, b = two_accounts
    transaction_post(
        key="posted",
        postings=[PostingSpec(account=a, amount=Decimal("1")), PostingSpec(account=b, amount=Decimal("-1"))],
        effective_date=date(2026, 10, 31),
    )
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)


def test_postings_cannot_be_added_to_a_committed_transaction(two_accounts):
    a, b = two_accounts
    txn = transaction_post(
        key="closed-txn",
        postings=[PostingSpec(account=a, amount=Decimal("1")), PostingSpec(account=b, amount=Decimal("-1"))],
        effective_date=date(2026, 10, 31),
    )
    with pytest.raises(IntegrityError, match="created"), transaction.atomic(), connection.cursor() as cursor:
        _raw_posting(cursor, txn.pk, a, "5")
        _raw_posting(cursor, txn.pk, b, "-5")


def test_trigger_functions_pin_search_path():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT proname, proconfig FROM pg_proc WHERE proname LIKE 'ledger\\_%%' ORDER BY proname"
        )
        rows = cursor.fetchall()
    assert len(rows) == 5
    assert all(config and any(c.startswith("search_path=") for c in config) for _, config in rows)
