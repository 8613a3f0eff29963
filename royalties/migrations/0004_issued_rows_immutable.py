"""Issued statements, their lines and partner settlements are immutable: triggers reject UPDATE and DELETE
(and TRUNCATE, except in a session that sets stemma.allow_truncate, as the test suite does). SQLite: UPDATE only,
for the reason given in ledger/migrations/0002_ledger_invariants.py."""

from django.db import migrations

TABLES = ["royalties_statement", "royalties_statementline", "royalties_partnersettlement"]

PG_FUNCTION = """
CREATE FUNCTION {s}.royalties_reject_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {s} AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('stemma.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'royalties: % rows are issued and immutable, % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$;
"""
PG_TRIGGERS = """
CREATE TRIGGER {t}_immutable BEFORE UPDATE OR DELETE ON {s}.{t}
    FOR EACH ROW EXECUTE FUNCTION {s}.royalties_reject_change();
CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {s}.{t}
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.royalties_reject_change();
"""


def _schema(schema_editor) -> str:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema())")
        return cursor.fetchone()[0]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        s = _schema(schema_editor)
        sql = PG_FUNCTION.format(s=s) + "".join(PG_TRIGGERS.format(s=s, t=t) for t in TABLES)
        schema_editor.execute(sql, params=None)
    elif vendor == "sqlite":
        for t in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} "
                f"BEGIN SELECT RAISE(ABORT, 'royalties: {t} rows are issued and immutable'); END",
                params=None,
            )


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        s = _schema(schema_editor)
        for t in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {t}_immutable ON {s}.{t}", params=None)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {s}.{t}", params=None)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {s}.royalties_reject_change()", params=None)
    elif vendor == "sqlite":
        for t in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {t}_no_update", params=None)


class Migration(migrations.Migration):
    dependencies = [("royalties", "0003_fewer_fk_checks_on_bulk_rows")]

    operations = [migrations.RunPython(forward, backward)]
