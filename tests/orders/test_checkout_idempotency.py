"""A Checkout Session is created under an idempotency key of its order: a retry gets the same
session, while another order that happens to carry a reused id (a database restored from a
backup, SQLite handing out a rolled-back id again) gets its own instead of a refusal."""

from datetime import UTC, datetime, timedelta

from orders import stripe_gateway
from tests.stripe_fake import FakeStripe

CREATED = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _open(order_id: int, created_at: datetime, units: int) -> stripe_gateway.CheckoutSession:
    return stripe_gateway.checkout_session_create(
        order_id=order_id,
        product_name="Weather API (per call)",
        units=units,
        unit_amount_cents=100,
        currency="USD",
        success_url="http://127.0.0.1/checkout/x/success",
        cancel_url="http://127.0.0.1/checkout/x/cancel",
        expires_at=created_at + timedelta(hours=1),
        order_created_at=created_at,
    )


def test_a_retry_gets_the_same_session_and_a_reused_order_id_its_own(
    fake_stripe: FakeStripe,
) -> None:
    first = _open(41, CREATED, units=6)
    retried = _open(41, CREATED, units=6)
    reused_id = _open(41, CREATED + timedelta(days=3), units=9)

    assert retried.id == first.id
    assert reused_id.id != first.id
