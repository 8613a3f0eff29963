"""The ledger's invariants, enforced by the database itself (see ledger/models.py).

PostgreSQL: a deferred constraint trigger checks at commit that each transaction's postings sum to zero
per currency (and that a transaction has postings); CHECK (amount <> 0) comes from 0001; triggers reject
UPDATE, DELETE and TRUNCATE of transactions and postings, postings added to a transaction created by
another database transaction, and postings whose currency is not their account's. Every trigger function
pins `search_path` and names tables with the schema they were created in.

TRUNCATE is let through only in a session that sets `stemma.allow_truncate = 'on'`: the test suite does
(tests/conftest.py), because Django's test runner empties every table with one TRUNCATE between
transactional tests. Application code never sets it.

SQLite (development, most tests): triggers reject UPDATE of transactions and postings and postings in the
wrong currency; the balance rule and DELETE are checked in Python (`transaction_post`, append-only
managers), because SQLite has no deferred triggers and Django's test flush deletes rows.
"""

from django.db import migrations

PG_FORWARD = """
ALTER TABLE {s}.ledger_transaction
    ADD COLUMN created_xid xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE FUNCTION {s}.ledger_posting_guard_insert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {s} AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM {s}.ledger_transaction t
        WHERE t.id = NEW.transaction_id AND t.created_xid = pg_current_xact_id()
    ) THEN
        RAISE EXCEPTION 'ledger: postings can only be added by the database transaction that created '
            'ledger transaction %', NEW.transaction_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM {s}.ledger_account a WHERE a.id = NEW.account_id AND a.currency = NEW.currency
    ) THEN
        RAISE EXCEPTION 'ledger: posting currency % differs from account %''s currency', NEW.currency,
            NEW.account_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER ledger_posting_guard_insert BEFORE INSERT ON {s}.ledger_posting
    FOR EACH ROW EXECUTE FUNCTION {s}.ledger_posting_guard_insert();

CREATE FUNCTION {s}.ledger_posting_check_balanced() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {s} AS $$
DECLARE
    r record;
BEGIN
    -- One check per transaction, not one per posting: only the trigger of its last posting sums them.
    IF NEW.id <> (SELECT max(p.id) FROM {s}.ledger_posting p WHERE p.transaction_id = NEW.transaction_id) THEN
        RETURN NULL;
    END IF;
    FOR r IN
        SELECT p.currency, sum(p.amount) AS total FROM {s}.ledger_posting p
        WHERE p.transaction_id = NEW.transaction_id GROUP BY p.currency HAVING sum(p.amount) <> 0
    LOOP
        RAISE EXCEPTION 'ledger: transaction % does not balance: % postings sum to %',
            NEW.transaction_id, r.currency, r.total USING ERRCODE = 'check_violation';
    END LOOP;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON {s}.ledger_posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {s}.ledger_posting_check_balanced();

CREATE FUNCTION {s}.ledger_transaction_check_postings() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {s} AS $$
BEGIN
    IF (SELECT count(*) FROM {s}.ledger_posting p WHERE p.transaction_id = NEW.id) < 2 THEN
        RAISE EXCEPTION 'ledger: transaction % has fewer than two postings', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_transaction_has_postings AFTER INSERT ON {s}.ledger_transaction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {s}.ledger_transaction_check_postings();

CREATE FUNCTION {s}.ledger_reject_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {s} AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('stemma.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'ledger: % is append-only, % is not allowed (post a reversing transaction)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER ledger_transaction_append_only BEFORE UPDATE OR DELETE ON {s}.ledger_transaction
    FOR EACH ROW EXECUTE FUNCTION {s}.ledger_reject_change();
CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON {s}.ledger_posting
    FOR EACH ROW EXECUTE FUNCTION {s}.ledger_reject_change();
CREATE TRIGGER ledger_transaction_no_truncate BEFORE TRUNCATE ON {s}.ledger_transaction
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.ledger_reject_change();
CREATE TRIGGER ledger_posting_no_truncate BEFORE TRUNCATE ON {s}.ledger_posting
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.ledger_reject_change();

CREATE FUNCTION {s}.ledger_account_currency_fixed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {s} AS $$
BEGIN
    RAISE EXCEPTION 'ledger: an account''s currency never changes (account %)', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER ledger_account_currency_fixed BEFORE UPDATE ON {s}.ledger_account
    FOR EACH ROW WHEN (OLD.currency IS DISTINCT FROM NEW.currency)
    EXECUTE FUNCTION {s}.ledger_account_currency_fixed();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS ledger_account_currency_fixed ON {s}.ledger_account;
DROP TRIGGER IF EXISTS ledger_posting_no_truncate ON {s}.ledger_posting;
DROP TRIGGER IF EXISTS ledger_transaction_no_truncate ON {s}.ledger_transaction;
DROP TRIGGER IF EXISTS ledger_posting_append_only ON {s}.ledger_posting;
DROP TRIGGER IF EXISTS ledger_transaction_append_only ON {s}.ledger_transaction;
DROP TRIGGER IF EXISTS ledger_transaction_has_postings ON {s}.ledger_transaction;
DROP TRIGGER IF EXISTS ledger_posting_balanced ON {s}.ledger_posting;
DROP TRIGGER IF EXISTS ledger_posting_guard_insert ON {s}.ledger_posting;
DROP FUNCTION IF EXISTS {s}.ledger_account_currency_fixed();
DROP FUNCTION IF EXISTS {s}.ledger_reject_change();
DROP FUNCTION IF EXISTS {s}.ledger_transaction_check_postings();
DROP FUNCTION IF EXISTS {s}.ledger_posting_check_balanced();
DROP FUNCTION IF EXISTS {s}.ledger_posting_guard_insert();
ALTER TABLE {s}.ledger_transaction DROP COLUMN IF EXISTS created_xid;
"""

SQLITE_FORWARD = [
    """CREATE TRIGGER ledger_transaction_no_update BEFORE UPDATE ON ledger_transaction
       BEGIN SELECT RAISE(ABORT, 'ledger: ledger_transaction is append-only, UPDATE is not allowed'); END""",
    """CREATE TRIGGER ledger_posting_no_update BEFORE UPDATE ON ledger_posting
       BEGIN SELECT RAISE(ABORT, 'ledger: ledger_posting is append-only, UPDATE is not allowed'); END""",
    """CREATE TRIGGER ledger_posting_currency BEFORE INSERT ON ledger_posting
       WHEN NEW.currency IS NOT (SELECT currency FROM ledger_account WHERE id = NEW.account_id)
       BEGIN SELECT RAISE(ABORT, 'ledger: posting currency differs from its account''s currency'); END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS ledger_transaction_no_update",
    "DROP TRIGGER IF EXISTS ledger_posting_no_update",
    "DROP TRIGGER IF EXISTS ledger_posting_currency",
]


def _schema(schema_editor) -> str:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema())")
        return cursor.fetchone()[0]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # params=None: the SQL holds literal % signs (RAISE formats, LIKE) that must not be interpolated.
        schema_editor.execute(PG_FORWARD.format(s=_schema(schema_editor)), params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement, params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD.format(s=_schema(schema_editor)), params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
