"""Consent versions (catalog.Consent), append-only in the database itself, as splits' history and
attributions are: a change of mind is a new version, and closed statements cite the version in force.

PostgreSQL: a trigger rejects UPDATE and DELETE, and TRUNCATE unless the session sets
`stemma.allow_truncate = 'on'` (only the test suite does). One UPDATE is let through: `created_by`
becoming NULL with nothing else changed (deleting the user who made the change; on_delete=SET_NULL).
SQLite: a trigger rejects UPDATE of any column but `created_by_id`; DELETE is left to the PROTECT
foreign keys, because Django's test flush deletes rows (as fingerprinting 0004 does).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

PG_FORWARD = """
CREATE FUNCTION {s}.catalog_consent_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, {s} AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('stemma.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) ->> 'created_by_id') IS NULL
        AND (to_jsonb(OLD) - 'created_by_id') = (to_jsonb(NEW) - 'created_by_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'catalog: % rows are append-only, % is not allowed (set a new consent version)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER catalog_consent_immutable BEFORE UPDATE OR DELETE ON {s}.catalog_consent
    FOR EACH ROW EXECUTE FUNCTION {s}.catalog_consent_immutable();
CREATE TRIGGER catalog_consent_no_truncate BEFORE TRUNCATE ON {s}.catalog_consent
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.catalog_consent_immutable();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS catalog_consent_no_truncate ON {s}.catalog_consent;
DROP TRIGGER IF EXISTS catalog_consent_immutable ON {s}.catalog_consent;
DROP FUNCTION IF EXISTS {s}.catalog_consent_immutable();
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
        with schema_editor.connection.cursor() as cursor:
            cursor.execute('PRAGMA table_info("catalog_consent")')
            columns = [row[1] for row in cursor.fetchall() if row[1] != "created_by_id"]
        schema_editor.execute(
            'CREATE TRIGGER "catalog_consent_no_update" BEFORE UPDATE OF '
            + ", ".join(f'"{c}"' for c in columns)
            + " ON \"catalog_consent\" BEGIN SELECT RAISE(ABORT, "
            "'catalog: catalog_consent rows are append-only, UPDATE is not allowed'); END",
            params=None,
        )


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD.format(s=_schema(schema_editor)), params=None)
    elif vendor == "sqlite":
        schema_editor.execute('DROP TRIGGER IF EXISTS "catalog_consent_no_update"', params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0003_ddex_messages_takedown'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Consent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scope', models.CharField(choices=[('label', 'Label default'), ('party', 'Party'), ('recording', 'Recording'), ('work', 'Work')], max_length=10)),
                ('subject_key', models.CharField(editable=False, max_length=40)),
                ('use', models.CharField(choices=[('training', 'Training'), ('conditioning', 'Conditioning'), ('voice', 'Voice')], max_length=20)),
                ('state', models.CharField(choices=[('opt_in', 'Opted in'), ('opt_out', 'Opted out')], max_length=10)),
                ('effective_from', models.DateField()),
                ('version', models.PositiveIntegerField()),
                ('reason', models.CharField(blank=True, max_length=300)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('label', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='consents', to='catalog.label')),
                ('party', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='consents', to='catalog.party')),
                ('recording', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='consents', to='catalog.recording')),
                ('work', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='consents', to='catalog.work')),
            ],
            options={
                'ordering': ['label_id', 'scope', 'use', '-effective_from'],
                'indexes': [models.Index(fields=['recording', 'use', 'effective_from'], name='catalog_con_recordi_1b6ee2_idx'), models.Index(fields=['party', 'use', 'effective_from'], name='catalog_con_party_i_92e287_idx'), models.Index(fields=['work', 'use', 'effective_from'], name='catalog_con_work_id_913cd5_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('party__isnull', True), ('recording__isnull', True), ('scope', 'label'), ('work__isnull', True)), models.Q(('party__isnull', False), ('recording__isnull', True), ('scope', 'party'), ('work__isnull', True)), models.Q(('party__isnull', True), ('recording__isnull', False), ('scope', 'recording'), ('work__isnull', True)), models.Q(('party__isnull', True), ('recording__isnull', True), ('scope', 'work'), ('work__isnull', False)), _connector='OR'), name='consent_one_subject_per_scope'), models.UniqueConstraint(fields=('label', 'subject_key', 'use', 'effective_from'), name='consent_one_version_per_day')],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
