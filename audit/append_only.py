"""The SQLite side of the audit log's append-only trigger, for migrations that change the
table: SQLite changes a CHECK constraint by copying the table into a new one, which drops the
trigger of 0002 with the old table, so such a migration creates it again (both ways)."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

SQLITE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS auditentry_append_only BEFORE UPDATE ON audit_auditentry
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused'); END
"""


def sqlite_trigger_again(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER, params=None)


def around_a_table_copy(
    operations: list[migrations.operations.base.Operation],
) -> list[migrations.operations.base.Operation]:
    """`operations`, with the trigger created again after them (and, migrating back, after
    the copies that undoing them makes)."""
    return [
        migrations.RunPython(migrations.RunPython.noop, sqlite_trigger_again),
        *operations,
        migrations.RunPython(sqlite_trigger_again, migrations.RunPython.noop),
    ]
