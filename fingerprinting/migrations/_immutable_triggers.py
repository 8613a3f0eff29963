"""SQLite immutability triggers of attributions and their shares, shared by the migrations that
must create them again after a table rebuild (see 0004_attribution_immutable)."""

SQLITE_TRIGGERS = {
    "fingerprinting_attribution_no_update": "fingerprinting_attribution",
    "fingerprinting_attributionshare_no_update": "fingerprinting_attributionshare",
}


def _sqlite_columns(schema_editor, table: str) -> list[str]:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'PRAGMA table_info("{table}")')
        return [row[1] for row in cursor.fetchall() if row[1] != "created_by_id"]


def sqlite_create(schema_editor) -> None:
    for trigger, table in SQLITE_TRIGGERS.items():
        columns = ", ".join(f'"{column}"' for column in _sqlite_columns(schema_editor, table))
        schema_editor.execute(
            f'CREATE TRIGGER "{trigger}" BEFORE UPDATE OF {columns} ON "{table}" BEGIN '
            f"SELECT RAISE(ABORT, 'fingerprinting: {table} rows are immutable, UPDATE is not allowed'); END",
            params=None,
        )


def sqlite_drop(schema_editor) -> None:
    for trigger in SQLITE_TRIGGERS:
        schema_editor.execute(f'DROP TRIGGER IF EXISTS "{trigger}"', params=None)
