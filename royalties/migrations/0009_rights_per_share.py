"""Rights per share: a deal divides its pool between master and publishing (`publishing_fraction`,
replacing the single `right_type`), and statement lines say which share right and which split paid them.

Deals keep their terms: a publishing deal (`right_type = publishing`) becomes `publishing_fraction = 1`,
a master deal 0, which prices every closed period exactly as before. Deals carry no immutability trigger;
their rows are rewritten here only to state the same terms in the new column.

Statement lines are immutable (0004). Their two new columns are added with a default (blank: lines issued
before rights existed name none), which PostgreSQL does without touching a row. On SQLite, adding a
column rebuilds the table and drops its UPDATE trigger: it is created again (and again on the way back).
"""

from decimal import Decimal

from django.db import migrations, models

STATEMENT_LINES = "royalties_statementline"


def _sqlite_line_trigger(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    t = STATEMENT_LINES
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {t}_no_update", params=None)
    schema_editor.execute(
        f"CREATE TRIGGER {t}_no_update BEFORE UPDATE ON {t} "
        f"BEGIN SELECT RAISE(ABORT, 'royalties: {t} rows are issued and immutable'); END",
        params=None,
    )


def deals_forward(apps, schema_editor):
    Deal = apps.get_model("royalties", "Deal")
    Deal.objects.filter(right_type="publishing").update(publishing_fraction=Decimal(1))


def deals_backward(apps, schema_editor):
    Deal = apps.get_model("royalties", "Deal")
    mixed = Deal.objects.exclude(publishing_fraction__in=[Decimal(0), Decimal(1)])
    if mixed.exists():
        raise RuntimeError(
            f"{mixed.count()} deal(s) divide their pool between master and publishing; "
            "a single right_type cannot state that"
        )
    Deal.objects.filter(publishing_fraction=Decimal(1)).update(right_type="publishing")


class Migration(migrations.Migration):
    dependencies = [
        ("fingerprinting", "0006_share_right"),
        ("royalties", "0008_dsr_messages"),
    ]

    operations = [
        migrations.AddField(
            model_name="deal",
            name="publishing_fraction",
            field=models.DecimalField(decimal_places=6, default=Decimal("0"), max_digits=7),
        ),
        migrations.RunPython(deals_forward, deals_backward),
        migrations.RemoveField(model_name="deal", name="right_type"),
        migrations.AddConstraint(
            model_name="deal",
            constraint=models.CheckConstraint(
                condition=models.Q(("publishing_fraction__gte", 0), ("publishing_fraction__lte", 1)),
                name="deal_publishing_fraction_range",
            ),
        ),
        migrations.RunPython(migrations.RunPython.noop, _sqlite_line_trigger),
        migrations.AddField(
            model_name="statementline",
            name="right",
            field=models.CharField(
                blank=True,
                choices=[("recording", "Recording (master and composition)"), ("composition", "Composition only")],
                default="",
                max_length=12,
            ),
        ),
        migrations.AddField(
            model_name="statementline",
            name="right_type",
            field=models.CharField(
                blank=True,
                choices=[("master", "Master"), ("publishing", "Publishing")],
                default="",
                max_length=20,
            ),
        ),
        migrations.RunPython(_sqlite_line_trigger, migrations.RunPython.noop),
    ]
