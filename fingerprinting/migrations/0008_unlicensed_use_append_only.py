"""Uses outside the licence are evidence for the label (the engine's evidence, the consent versions in
force): append-only in the database, as attributions are. PostgreSQL refuses UPDATE and DELETE (TRUNCATE
only for the test suite, `stemma.allow_truncate`); SQLite refuses UPDATE (DELETE is left to the PROTECT
foreign keys, because Django's test flush deletes rows)."""

from django.db import migrations

PG_FORWARD = """
CREATE FUNCTION {s}.fingerprinting_unlicenseduse_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {s} AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('stemma.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'fingerprinting: % rows are immutable, % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER fingerprinting_unlicenseduse_immutable BEFORE UPDATE OR DELETE ON {s}.fingerprinting_unlicenseduse
    FOR EACH ROW EXECUTE FUNCTION {s}.fingerprinting_unlicenseduse_immutable();
CREATE TRIGGER fingerprinting_unlicenseduse_no_truncate BEFORE TRUNCATE ON {s}.fingerprinting_unlicenseduse
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.fingerprinting_unlicenseduse_immutable();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS fingerprinting_unlicenseduse_no_truncate ON {s}.fingerprinting_unlicenseduse;
DROP TRIGGER IF EXISTS fingerprinting_unlicenseduse_immutable ON {s}.fingerprinting_unlicenseduse;
DROP FUNCTION IF EXISTS {s}.fingerprinting_unlicenseduse_immutable();
"""
SQLITE_FORWARD = (
    'CREATE TRIGGER "fingerprinting_unlicenseduse_no_update" BEFORE UPDATE ON "fingerprinting_unlicenseduse" '
    "BEGIN SELECT RAISE(ABORT, 'fingerprinting: fingerprinting_unlicenseduse rows are immutable, UPDATE is not allowed'); END"
)


def _schema(schema_editor) -> str:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema())")
        return cursor.fetchone()[0]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD.format(s=_schema(schema_editor)), params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD, params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD.format(s=_schema(schema_editor)), params=None)
    elif vendor == "sqlite":
        schema_editor.execute('DROP TRIGGER IF EXISTS "fingerprinting_unlicenseduse_no_update"', params=None)


class Migration(migrations.Migration):
    dependencies = [("fingerprinting", "0007_unlicensed_use_voice_model")]

    operations = [migrations.RunPython(forward, backward)]
