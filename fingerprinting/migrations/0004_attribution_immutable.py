"""Attribution versions are immutable, enforced by the database itself, as the ledger is.

A revision (re-attribution, review) inserts a new version and moves the clip's pointer; nothing ever
rewrites a stored one, because statements and partners' challenges cite it. So:

PostgreSQL: triggers reject UPDATE and DELETE of attributions and their shares, and TRUNCATE unless
the session sets `stemma.allow_truncate = 'on'` (only the test suite does: Django's test runner empties
tables with TRUNCATE). One UPDATE is let through: `created_by` becoming NULL with nothing else changed,
which is what deleting the user who made a manual version does (on_delete=SET_NULL).

SQLite (development, most tests): triggers reject UPDATE of any column but `created_by_id`; DELETE is
left to the PROTECT foreign keys, because Django's test flush deletes rows.
"""

from django.db import migrations

from fingerprinting.migrations import _immutable_triggers

PG_FORWARD = """
CREATE FUNCTION {s}.fingerprinting_attribution_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {s} AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('stemma.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'fingerprinting_attribution' THEN
        IF (to_jsonb(NEW) ->> 'created_by_id') IS NULL
            AND (to_jsonb(OLD) - 'created_by_id') = (to_jsonb(NEW) - 'created_by_id') THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'fingerprinting: % rows are immutable, % is not allowed (attribute again: a new version)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER fingerprinting_attribution_immutable BEFORE UPDATE OR DELETE ON {s}.fingerprinting_attribution
    FOR EACH ROW EXECUTE FUNCTION {s}.fingerprinting_attribution_immutable();
CREATE TRIGGER fingerprinting_attributionshare_immutable BEFORE UPDATE OR DELETE
    ON {s}.fingerprinting_attributionshare
    FOR EACH ROW EXECUTE FUNCTION {s}.fingerprinting_attribution_immutable();
CREATE TRIGGER fingerprinting_attribution_no_truncate BEFORE TRUNCATE ON {s}.fingerprinting_attribution
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.fingerprinting_attribution_immutable();
CREATE TRIGGER fingerprinting_attributionshare_no_truncate BEFORE TRUNCATE
    ON {s}.fingerprinting_attributionshare
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.fingerprinting_attribution_immutable();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS fingerprinting_attributionshare_no_truncate ON {s}.fingerprinting_attributionshare;
DROP TRIGGER IF EXISTS fingerprinting_attribution_no_truncate ON {s}.fingerprinting_attribution;
DROP TRIGGER IF EXISTS fingerprinting_attributionshare_immutable ON {s}.fingerprinting_attributionshare;
DROP TRIGGER IF EXISTS fingerprinting_attribution_immutable ON {s}.fingerprinting_attribution;
DROP FUNCTION IF EXISTS {s}.fingerprinting_attribution_immutable();
"""

def _schema(schema_editor) -> str:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema())")
        return cursor.fetchone()[0]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        # params=None: the SQL holds literal % signs (RAISE formats) that must not be interpolated.
        schema_editor.execute(PG_FORWARD.format(s=_schema(schema_editor)), params=None)
    elif vendor == "sqlite":
        _immutable_triggers.sqlite_create(schema_editor)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD.format(s=_schema(schema_editor)), params=None)
    elif vendor == "sqlite":
        _immutable_triggers.sqlite_drop(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("fingerprinting", "0003_page_indexes")]

    operations = [migrations.RunPython(forward, backward)]
