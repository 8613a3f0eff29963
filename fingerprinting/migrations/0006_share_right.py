"""Every attribution share names the right it implicates: `recording` (master and composition) or
`composition` (the work only).

Stored shares are immutable (0004): they are never UPDATEd to the new value. The column carries a
database default, `recording`, which is what every share stored before this migration meant (the
lanes then found reused audio or a resemblance to a recording, and paid it as a recording). PostgreSQL
adds a column with a default without touching its rows, so no row trigger fires. On SQLite, adding a
column rebuilds the table and drops its triggers: the immutability triggers are created again over
the new column list, as in 0005, and again when migrating back."""

from django.db import migrations, models

from fingerprinting.migrations import _immutable_triggers


def sqlite_triggers_again(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        _immutable_triggers.sqlite_drop(schema_editor)
        _immutable_triggers.sqlite_create(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("fingerprinting", "0005_review_reasons_near_duplicates")]

    operations = [
        # Migrating back rebuilds the table again (RemoveField): this, run last on the way back, puts the
        # triggers back on it.
        migrations.RunPython(migrations.RunPython.noop, sqlite_triggers_again),
        migrations.AddField(
            model_name="attributionshare",
            name="right",
            field=models.CharField(
                choices=[("recording", "Recording (master and composition)"), ("composition", "Composition only")],
                db_default="recording",
                default="recording",
                max_length=12,
            ),
        ),
        migrations.AddConstraint(
            model_name="attributionshare",
            constraint=models.CheckConstraint(
                condition=models.Q(("right__in", ["recording", "composition"])),
                name="attribution_share_right_known",
            ),
        ),
        migrations.RunPython(sqlite_triggers_again, migrations.RunPython.noop),
    ]
