"""The order total's check compares to the cent (see Order.Meta): on SQLite the exact check
refused orders such as 3 units at 0.10, whose product is 0.30000000000000004 there.

On PostgreSQL the old check is dropped and the new one added NOT VALID in one transaction,
then validated in a second: the scan of existing orders then holds a lock that lets
purchases go on, instead of blocking the table while it reads every order. Each existing
order passes, since the exact check implied the rounded one. Elsewhere Django swaps the
constraint its own way (SQLite rebuilds the table).
"""

from typing import Any

from django.db import migrations, models, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import ProjectState
from django.db.models import F
from django.db.models.functions import Round

NAME = "order_total_is_unit_price_times_units"
EXACT = models.CheckConstraint(
    condition=models.Q(total_price=F("unit_price") * F("units")), name=NAME
)
TO_THE_CENT = models.CheckConstraint(
    condition=models.Q(total_price=Round(F("unit_price") * F("units"), 2)), name=NAME
)


class ReplaceOrderCheck(migrations.operations.base.Operation):
    """Order's check constraint `old` becomes `new` (same name), never missing in between."""

    def __init__(self, old: models.CheckConstraint, new: models.CheckConstraint) -> None:
        self.old, self.new = old, new

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__name__, [self.old, self.new], {}

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        state.remove_constraint(app_label, "order", self.old.name)
        state.add_constraint(app_label, "order", self.new)

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        before = from_state.apps.get_model(app_label, "order")
        after = to_state.apps.get_model(app_label, "order")
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.remove_constraint(before, self.old)
            schema_editor.add_constraint(after, self.new)
            return
        table = schema_editor.quote_name(after._meta.db_table)
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.remove_constraint(before, self.old)
            added = self.new.constraint_sql(after, schema_editor)
            schema_editor.execute(f"ALTER TABLE {table} ADD {added} NOT VALID")
        name = schema_editor.quote_name(self.new.name)
        schema_editor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        ReplaceOrderCheck(self.new, self.old).database_forwards(
            app_label, schema_editor, from_state, to_state
        )

    def describe(self) -> str:
        return f"Replace the check {self.old.name} on order"


class Migration(migrations.Migration):
    atomic = False  # so that validating runs in its own transaction (see above)

    dependencies = [
        ("orders", "0002_order_refund_permission"),
    ]

    operations = [ReplaceOrderCheck(EXACT, TO_THE_CENT)]
