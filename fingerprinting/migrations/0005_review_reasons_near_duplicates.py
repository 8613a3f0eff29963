"""Attributions record why they were sent to review; index versions record near-duplicate groups.

On SQLite, adding a column rebuilds the table and drops its triggers: the immutability triggers of
0004 are created again over the new column list (PostgreSQL keeps its row triggers)."""

from django.db import migrations, models

from fingerprinting.migrations import _immutable_triggers


def sqlite_triggers_again(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        _immutable_triggers.sqlite_drop(schema_editor)
        _immutable_triggers.sqlite_create(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("fingerprinting", "0004_attribution_immutable")]

    operations = [
        migrations.AddField(
            model_name="attribution",
            name="review_reasons",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="indexversion",
            name="near_duplicates",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(sqlite_triggers_again, migrations.RunPython.noop),
    ]
