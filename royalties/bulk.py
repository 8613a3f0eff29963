"""Bulk writes: PostgreSQL COPY where available (the close writes hundreds of thousands of rows),
`bulk_create` elsewhere."""

from collections.abc import Iterable

from django.db import connection, models
from psycopg import sql


def bulk_insert(model: type[models.Model], fields: list[str], rows: Iterable[tuple]) -> int:
    """Insert rows (tuples in `fields` order, foreign keys as ids via `<name>_id`). Returns the count."""
    count = 0
    if connection.vendor == "postgresql":
        columns = [model._meta.get_field(f.removesuffix("_id")).column for f in fields]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(model._meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    batch: list[models.Model] = []
    for row in rows:
        batch.append(model(**dict(zip(fields, row, strict=True))))
        count += 1
        if len(batch) >= 2000:
            model.objects.bulk_create(batch)
            batch = []
    if batch:
        model.objects.bulk_create(batch)
    return count
