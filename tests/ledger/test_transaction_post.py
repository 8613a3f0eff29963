"""ledger.services.transaction_post and friends, on any database."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import IdempotencyConflict, ImmutableRecord, InvalidPosting, UnbalancedTransaction
from ledger.models import AccountKind, Posting, Transaction
from ledger.selectors import account_balance, transaction_is_balanced
from ledger.services import PostingSpec, account_ensure, transaction_post, transaction_reverse

pytestmark = pytest.mark.django_db
DAY = date(2026, 10, 31)


@pytest.fixture
def accounts():
    return {
        "cash": account_ensure(code="cash", kind=AccountKind.ASSET, currency="EUR"),
        "payable": account_ensure(code="payable", kind=AccountKind.LIABILITY, currency="EUR"),
        "usd": account_ensure(code="cash", kind=AccountKind.ASSET, currency="USD"),
    }


def test_post_and_balance(accounts):
    transaction_post(
        key="t1",
        postings=[
            PostingSpec(account=accounts["cash"], amount=Decimal("10.00")),
            PostingSpec(account=accounts["payable"], amount=Decimal("-10.00")),
        ],
        effective_date=DAY,
        memo="first",
    )
    assert account_balance(account=accounts["cash"]) == Decimal("10.00")
    assert account_balance(account=accounts["payable"]) == Decimal("10.00")  # credit-normal
    assert account_balance(account=accounts["cash"], as_of=date(2026, 10, 30)) == 0


def test_replay_same_key_same_postings_returns_existing(accounts):
    spec = [
        PostingSpec(account=accounts["cash"], amount=Decimal("5")),
        PostingSpec(account=accounts["payable"], amount=Decimal("-5.00")),
    ]
    first = transaction_post(key="k", postings=spec, effective_date=DAY, memo="")
    again = transaction_post(key="k", postings=list(reversed(spec)), effective_date=DAY, memo="other memo")
    assert again.pk == first.pk
    assert Posting.objects.count() == 2


def test_same_key_different_postings_is_a_conflict(accounts):
    transaction_post(
        key="k",
        postings=[
            PostingSpec(account=accounts["cash"], amount=Decimal("5")),
            PostingSpec(account=accounts["payable"], amount=Decimal("-5")),
        ],
        effective_date=DAY,
    )
    with pytest.raises(IdempotencyConflict) as err:
        transaction_post(
            key="k",
            postings=[
                PostingSpec(account=accounts["cash"], amount=Decimal("6")),
                PostingSpec(account=accounts["payable"], amount=Decimal("-6")),
            ],
            effective_date=DAY,
        )
    assert err.value.code == "idempotency_conflict"
    assert err.value.http_status == 409


@pytest.mark.parametrize(
    ("amounts", "error"),
    [
        ([("cash", "10"), ("payable", "-9.99")], UnbalancedTransaction),
        ([("cash", "10"), ("usd", "-10")], UnbalancedTransaction),  # balanced in sum, not per currency
        ([("cash", "0"), ("payable", "0")], InvalidPosting),
        ([("cash", "0.001"), ("payable", "-0.001")], InvalidPosting),  # below the EUR minor unit
        ([("cash", "10")], InvalidPosting),
    ],
)
def test_invalid_transactions_are_rejected_in_python(accounts, amounts, error):
    with pytest.raises(error):
        transaction_post(
            key="bad",
            postings=[PostingSpec(account=accounts[a], amount=Decimal(x)) for a, x in amounts],
            effective_date=DAY,
        )
    assert not Transaction.objects.exists()


def test_postings_are_append_only_in_python(accounts):
    txn = transaction_post(
        key="t",
        postings=[
            PostingSpec(account=accounts["cash"], amount=Decimal("1")),
            PostingSpec(account=accounts["payable"], amount=Decimal("-1")),
        ],
        effective_date=DAY,
    )
    with pytest.raises(ImmutableRecord):
        Posting.objects.filter(transaction=txn).update(amount=Decimal("2"))
    with pytest.raises(ImmutableRecord):
        Posting.objects.filter(transaction=txn).delete()
    with pytest.raises(ImmutableRecord):
        txn.delete()
    posting = txn.postings.first()
    posting.amount = Decimal("3")
    with pytest.raises(ImmutableRecord):
        posting.save()


def test_reversal_nets_to_zero(accounts):
    txn = transaction_post(
        key="t",
        postings=[
            PostingSpec(account=accounts["cash"], amount=Decimal("7.50")),
            PostingSpec(account=accounts["payable"], amount=Decimal("-7.50")),
        ],
        effective_date=DAY,
    )
    transaction_reverse(original=txn, key="t:reversal", effective_date=DAY)
    assert account_balance(account=accounts["cash"]) == 0
    assert Transaction.objects.count() == 2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2), min_size=1))
def test_every_posted_transaction_sums_to_zero(accounts, debits):
    """Property: whatever balanced postings go in, each transaction sums to zero per currency."""
    key = f"p{len(debits)}-{sum(debits)}-{Transaction.objects.count()}"
    postings = [PostingSpec(account=accounts["cash"], amount=d) for d in debits]
    postings.append(PostingSpec(account=accounts["payable"], amount=-sum(debits)))
    txn = transaction_post(key=key, postings=postings, effective_date=DAY)
    assert transaction_is_balanced(txn=txn)


def test_database_rejects_raw_updates_on_any_backend(accounts):
    """PostgreSQL and SQLite both refuse an UPDATE of a posting that bypasses the ORM."""
    from django.db import DatabaseError, connection
    from django.db import transaction as db_transaction

    transaction_post(
        key="raw",
        postings=[
            PostingSpec(account=accounts["cash"], amount=Decimal("1")),
            PostingSpec(account=accounts["payable"], amount=Decimal("-1")),
        ],
        effective_date=DAY,
    )
    with pytest.raises(DatabaseError), db_transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_posting SET amount = 5")
    assert sorted(Posting.objects.values_list("amount", flat=True)) == [Decimal("-1"), Decimal("1")]
