"""The audit log is append-only in the database itself: UPDATE and DELETE raise.

PostgreSQL (production, CI): a row trigger refuses both. TRUNCATE is left alone: it needs
the table owner's rights anyway, and the test runner empties tables with it between tests.
SQLite (local demo only) refuses UPDATE; its test runner empties tables with DELETE, which a
trigger there would break.
"""

from django.db import migrations

from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

POSTGRES_UP = [
    """
    CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit log is append-only: % refused on %', TG_OP, TG_TABLE_NAME;
    END $$
    """,
    """
    CREATE TRIGGER auditentry_append_only BEFORE UPDATE OR DELETE ON audit_auditentry
        FOR EACH ROW EXECUTE FUNCTION audit_append_only()
    """,
]
POSTGRES_DOWN = [
    "DROP TRIGGER auditentry_append_only ON audit_auditentry",
    "DROP FUNCTION audit_append_only()",
]
SQLITE_UP = [
    """
    CREATE TRIGGER auditentry_append_only BEFORE UPDATE ON audit_auditentry
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused'); END
    """
]
SQLITE_DOWN = ["DROP TRIGGER auditentry_append_only"]

SQL = {"postgresql": (POSTGRES_UP, POSTGRES_DOWN), "sqlite": (SQLITE_UP, SQLITE_DOWN)}


def _statements(schema_editor: BaseDatabaseSchemaEditor, *, up: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in SQL:
        raise NotImplementedError(f"no append-only trigger written for {vendor}")
    for statement in SQL[vendor][0 if up else 1]:
        schema_editor.execute(statement, params=None)


def create_triggers(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _statements(schema_editor, up=True)


def drop_triggers(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _statements(schema_editor, up=False)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
