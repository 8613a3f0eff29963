"""TRUNCATE of the ledger is refused unless the session explicitly opts in (only the test suite does)."""

import pytest
from django.db import DatabaseError, connection, transaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.mark.parametrize("table", ["ledger_posting", "ledger_transaction", "royalties_statement"])
def test_truncate_is_refused_without_the_opt_in(table):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL stemma.allow_truncate = 'off'")
        with pytest.raises(DatabaseError), transaction.atomic():
            cursor.execute(f"TRUNCATE {table} CASCADE")
