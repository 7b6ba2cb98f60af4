"""Follow the Checkout Sessions that may still be paid, with the sweeper's index (issue 14,
class 4).

Reviewed for a live orders table:
- The backfill marks the sessions of orders awaiting payment, and of orders released in the
  last two days (Stripe closes a Checkout Session at most 24 hours after creating it); paid
  orders' sessions are complete and instant orders have none. It runs in its own transaction
  and locks only the rows it marks.
- The partial index is built with CREATE INDEX CONCURRENTLY on PostgreSQL, so purchases go on
  while the table is scanned; that cannot run in a transaction, hence atomic = False. Both
  steps can run again: if the build fails it leaves an INVALID index behind, so drop it
  (DROP INDEX CONCURRENTLY order_open_session_idx) and migrate again. Elsewhere (SQLite, the
  demo database) a plain CREATE INDEX.
"""

from datetime import timedelta

from django.apps.registry import Apps
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations import AddIndex
from django.db.migrations.state import ProjectState
from django.utils import timezone

# Stripe's longest Checkout Session is 24 hours; the margin covers a session opened by a
# retried request some time after its order was created.
MAY_STILL_BE_OPEN = timedelta(days=2)


def follow_sessions_that_may_still_be_paid(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    order = apps.get_model("orders", "Order")
    recent = models.Q(status__in=("cancelled", "expired")) & models.Q(
        created_at__gte=timezone.now() - MAY_STILL_BE_OPEN
    )
    order.objects.filter(models.Q(status="awaiting_payment") | recent).exclude(
        checkout_session_id=""
    ).update(checkout_session_open=True)


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("orders", "0005_order_checkout_session_open"),
    ]

    operations = [
        migrations.RunPython(
            follow_sessions_that_may_still_be_paid, migrations.RunPython.noop, atomic=True
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="order",
            index=models.Index(
                condition=models.Q(
                    ("checkout_session_open", True), ("status__in", ("cancelled", "expired"))
                ),
                fields=["id"],
                name="order_open_session_idx",
            ),
        ),
    ]
