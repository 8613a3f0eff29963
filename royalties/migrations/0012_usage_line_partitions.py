"""Usage lines partitioned by month on PostgreSQL (royalties/partitions.py says why and how).

Moves every existing row into the partitioned table in the migration's transaction. The line-id rule
moves from a unique index to the key table and its triggers. On SQLite nothing changes, and Django's
model state is the same on both: the model keeps its unique constraint, which SQLite enforces and
PostgreSQL enforces through `royalties_usage_line_key`.
"""

from datetime import date

from django.db import migrations

OLD = "royalties_usageline_unpartitioned"

SETUP_SQL = f"""
ALTER TABLE royalties_usageline RENAME TO {OLD};
ALTER TABLE {OLD} RENAME CONSTRAINT royalties_usageline_pkey TO {OLD}_pkey;
ALTER TABLE {OLD} DROP CONSTRAINT usage_line_unique_per_partner;
DROP INDEX usage_label_date;
CREATE TABLE royalties_usageline (
    LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY
) PARTITION BY RANGE (usage_date);
ALTER TABLE royalties_usageline ADD CONSTRAINT royalties_usageline_pkey PRIMARY KEY (id, usage_date);
-- Rows of a month without its own partition (a test's factory, a date beat did not foresee) land here
-- rather than fail; royalties.partitions never creates a month whose rows are already here.
CREATE TABLE royalties_usageline_default PARTITION OF royalties_usageline DEFAULT;
CREATE TABLE royalties_usage_line_key (
    partner_id bigint NOT NULL,
    partner_line_id varchar(100) NOT NULL,
    PRIMARY KEY (partner_id, partner_line_id)
);
INSERT INTO royalties_usage_line_key (partner_id, partner_line_id) SELECT partner_id, partner_line_id FROM {OLD};
"""

FINISH_SQL = f"""
INSERT INTO royalties_usageline SELECT * FROM {OLD};
SELECT setval(pg_get_serial_sequence('royalties_usageline', 'id'), coalesce(max(id), 0) + 1, false)
    FROM royalties_usageline;
DROP TABLE {OLD};
CREATE INDEX usage_label_date ON royalties_usageline (label_id, usage_date);
-- Finds a stored line by its partner's id (a replay's content check, the closed-month check); not unique:
-- the key table is what keeps a line id unique across months.
CREATE INDEX usage_line_partner_line ON royalties_usageline (partner_id, partner_line_id);

-- A line whose (partner, line id) was stored before is skipped, as ON CONFLICT DO NOTHING would: the
-- concurrent second writer waits on the key's row lock and then skips, like a unique index.
-- Every insert claims its line ids in the key table in one set-based statement at its end, and fails
-- on a line id stored before (a unique violation, as the unique index did). The ingestion paths claim
-- their keys first themselves (INSERT ... ON CONFLICT DO NOTHING, so a replay or a concurrent writer's
-- line is skipped, not an error) and say so for their insert (stemma.usage_line_keys_claimed).
CREATE FUNCTION royalties_usage_line_key_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('stemma.usage_line_keys_claimed', true) = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO royalties_usage_line_key (partner_id, partner_line_id)
        SELECT partner_id, partner_line_id FROM inserted;
    RETURN NULL;
END $$;
CREATE TRIGGER royalties_usage_line_key_claim AFTER INSERT ON royalties_usageline
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION royalties_usage_line_key_claim();

CREATE FUNCTION royalties_usage_line_key_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM royalties_usage_line_key k USING removed r
        WHERE k.partner_id = r.partner_id AND k.partner_line_id = r.partner_line_id;
    RETURN NULL;
END $$;
CREATE TRIGGER royalties_usage_line_key_release AFTER DELETE ON royalties_usageline
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION royalties_usage_line_key_release();

-- Emptying the table (the test runner between tests) empties the keys with it.
CREATE FUNCTION royalties_usage_line_key_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE royalties_usage_line_key;
    RETURN NULL;
END $$;
CREATE TRIGGER royalties_usage_line_key_truncate AFTER TRUNCATE ON royalties_usageline
    FOR EACH STATEMENT EXECUTE FUNCTION royalties_usage_line_key_truncate();
"""

REVERSE_SQL = f"""
ALTER TABLE royalties_usageline RENAME TO {OLD};
ALTER TABLE {OLD} RENAME CONSTRAINT royalties_usageline_pkey TO {OLD}_pkey;
DROP INDEX usage_label_date;
CREATE TABLE royalties_usageline (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY);
ALTER TABLE royalties_usageline ADD CONSTRAINT royalties_usageline_pkey PRIMARY KEY (id);
INSERT INTO royalties_usageline SELECT * FROM {OLD};
SELECT setval(pg_get_serial_sequence('royalties_usageline', 'id'), coalesce(max(id), 0) + 1, false)
    FROM royalties_usageline;
DROP TABLE {OLD} CASCADE;
DROP TABLE royalties_usage_line_key;
DROP FUNCTION royalties_usage_line_key_claim();
DROP FUNCTION royalties_usage_line_key_release();
DROP FUNCTION royalties_usage_line_key_truncate();
ALTER TABLE royalties_usageline ADD CONSTRAINT usage_line_unique_per_partner UNIQUE (partner_id, partner_line_id);
CREATE INDEX usage_label_date ON royalties_usageline (label_id, usage_date);
"""


def _months(first: date, last: date) -> list[date]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from django.utils import timezone

    from royalties.partitions import MONTHS_AHEAD, next_month, partition_name

    with schema_editor.connection.cursor() as cursor:
        cursor.execute(SETUP_SQL)
        cursor.execute(f"SELECT min(usage_date), max(usage_date) FROM {OLD}")
        low, high = cursor.fetchone()
        this_month = timezone.now().date().replace(day=1)
        ahead = this_month
        for _ in range(MONTHS_AHEAD):
            ahead = next_month(ahead)
        first = min(low.replace(day=1), this_month) if low else this_month
        last = max(high.replace(day=1), ahead) if high else ahead
        for month in _months(first, last):
            cursor.execute(
                f"CREATE TABLE {partition_name(month)} PARTITION OF royalties_usageline "
                "FOR VALUES FROM (%s) TO (%s)",
                [month, next_month(month)],
            )
        cursor.execute(FINISH_SQL)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(REVERSE_SQL)


class Migration(migrations.Migration):
    dependencies = [("royalties", "0011_voice_line")]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
