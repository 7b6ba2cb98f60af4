"""Orders remember whether their Checkout Session may still be paid (issue 14, class 4).

The column has a constant database default: PostgreSQL records it in the catalogue without
rewriting the table, so the lock it takes lasts a moment, and INSERTs that do not name it
keep working. Which sessions to follow is filled in by 0006.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0004_stripeevent_mismatch_malformed"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="checkout_session_open",
            field=models.BooleanField(db_default=False, default=False),
        ),
    ]
