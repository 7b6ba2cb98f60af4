"""Page and admin sessions move to a table keyed by the SHA-256 of the session key
(accounts/session_store.py), and every existing page session ends.

Rows of Django's `django_session` hold working cookie values in plain text: they are deleted
here (the new engine never reads them), and the browser sessions linked to them are revoked,
so the session lists show none as live that nobody can use any more. Users log in again.
"""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.utils import timezone

OLD_TABLE = "django_session"


def end_plaintext_sessions(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    connection = schema_editor.connection
    # By name: the table belongs to django.contrib.sessions, which may run its migration later
    # (a new database) or not be installed at all.
    if OLD_TABLE in connection.introspection.table_names():
        schema_editor.execute(f"DELETE FROM {schema_editor.quote_name(OLD_TABLE)}")
    ApiSession = apps.get_model("accounts", "ApiSession")
    ApiSession.objects.using(connection.alias).filter(
        kind="browser", revoked_at__isnull=True
    ).update(revoked_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_deactivate_permission"),
    ]

    operations = [
        migrations.CreateModel(
            name="CookieSession",
            fields=[
                ("session_data", models.TextField(verbose_name="session data")),
                ("expire_date", models.DateTimeField(db_index=True, verbose_name="expire date")),
                (
                    "session_key",
                    models.CharField(
                        max_length=64,
                        primary_key=True,
                        serialize=False,
                        verbose_name="SHA-256 of the session key",
                    ),
                ),
            ],
            options={
                "verbose_name": "session",
                "verbose_name_plural": "sessions",
                "abstract": False,
            },
        ),
        migrations.RunPython(
            end_plaintext_sessions, migrations.RunPython.noop, elidable=True
        ),
    ]
