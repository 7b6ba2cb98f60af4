"""The only module that talks to Stripe (official SDK, over HTTP).

Everything here is a network call: callers must not hold a row lock or an open transaction
while they call it. Stripe's errors become `PaymentGatewayError`, marked transient when a
retry may succeed (connection trouble, Stripe's 5xx, rate limits).
"""

import functools
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from django.conf import settings

logger = logging.getLogger(__name__)

PAID_STATUSES = frozenset({"paid", "no_payment_required"})
# A completed session's payment intent in one of these may still succeed (a delayed method
# such as a bank debit is processing); "requires_payment_method" or "canceled" means it failed.
PAYMENT_PENDING_STATUSES = frozenset(
    {"processing", "requires_action", "requires_confirmation", "requires_capture"}
)
# Another request with the same idempotency key is still running at Stripe (HTTP 409).
IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"


class PaymentGatewayError(Exception):
    def __init__(self, message: str, *, transient: bool, code: str = "") -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code  # Stripe's error code, e.g. "charge_already_refunded"


class InvalidWebhook(Exception):
    """Not signed by our endpoint secret, or signed outside the timestamp tolerance."""


class UnusableEvent(Exception):
    """Signed by our endpoint secret but not JSON: a retry would send the same bytes, so it
    is acknowledged (and logged), not refused."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    payment_intent_id: str
    payment_intent_status: str = ""  # when read with the payment intent expanded

    @property
    def paid(self) -> bool:
        return self.payment_status in PAID_STATUSES

    @property
    def may_still_be_paid(self) -> bool:
        """Money may still arrive through this session: it is open, or it is complete with a
        delayed payment in flight (or one whose state Stripe did not tell)."""
        if self.paid or self.status == "expired":
            return False
        if self.status == "complete":
            return not self.payment_intent_status or (
                self.payment_intent_status in PAYMENT_PENDING_STATUSES
            )
        return True


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _client_for(api_key: str, api_base: str, timeout: float, retries: int) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=stripe.RequestsClient(timeout=timeout),
        max_network_retries=retries,  # safe: every write carries an idempotency key
    )


def _client() -> stripe.StripeClient:
    return _client_for(
        settings.STRIPE_SECRET_KEY,
        settings.STRIPE_API_BASE,
        settings.STRIPE_TIMEOUT_SECONDS,
        settings.STRIPE_MAX_NETWORK_RETRIES,
    )


@contextmanager
def _stripe_call(action: str) -> Iterator[None]:
    try:
        yield
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        logger.warning("stripe: %s failed: %s", action, type(exc).__name__)
        raise PaymentGatewayError(
            f"Stripe could not be reached ({action})", transient=True
        ) from exc
    except stripe.StripeError as exc:
        transient = (exc.http_status or 0) >= 500
        # The SDK passes the code only for some statuses (not a 409); the error object has it.
        code = exc.code or (exc.error.code if exc.error else None) or ""
        logger.warning("stripe: %s refused: %s %s", action, exc.http_status, code)
        raise PaymentGatewayError(
            f"Stripe refused {action}", transient=transient, code=code
        ) from exc


def _session(stripe_object: Any) -> CheckoutSession:
    obj = stripe_object.to_dict()
    payment_intent = obj.get("payment_intent") or ""
    payment_intent_status = ""
    if not isinstance(payment_intent, str):  # expanded object
        payment_intent_status = payment_intent.get("status") or ""
        payment_intent = payment_intent.get("id", "")
    return CheckoutSession(
        id=obj["id"],
        url=obj.get("url") or "",
        status=obj.get("status") or "",
        payment_status=obj.get("payment_status") or "",
        payment_intent_id=payment_intent,
        payment_intent_status=payment_intent_status,
    )


def checkout_session_create(
    *,
    order_id: int,
    product_name: str,
    units: int,
    unit_amount_cents: int,
    currency: str,
    success_url: str,
    cancel_url: str,
    expires_at: datetime,
    order_created_at: datetime,
) -> CheckoutSession:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": units,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": unit_amount_cents,
                    "product_data": {"name": product_name[:250]},
                },
            }
        ],
        "metadata": {"order_id": str(order_id)},
        "client_reference_id": str(order_id),
        "payment_intent_data": {"metadata": {"order_id": str(order_id)}},
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int(expires_at.timestamp()),
    }
    with _stripe_call("creating a Checkout Session"):
        session = _client().v1.checkout.sessions.create(
            params=params,  # type: ignore[arg-type]
            # The order's creation time too: an id can come back (a database restored from
            # a backup, SQLite handing out a rolled-back id again) and must not meet the
            # other order's session.
            options={
                "idempotency_key": f"agora-order-{order_id}-"
                f"{int(order_created_at.timestamp() * 1_000_000)}-checkout"
            },
        )
    return _session(session)


def checkout_session_retrieve(session_id: str) -> CheckoutSession:
    """The session with its payment intent expanded, so a completed session tells whether
    its delayed payment is still on its way."""
    with _stripe_call("reading a Checkout Session"):
        return _session(
            _client().v1.checkout.sessions.retrieve(
                session_id, params={"expand": ["payment_intent"]}
            )
        )


def checkout_session_expire(session_id: str) -> CheckoutSession:
    with _stripe_call("expiring a Checkout Session"):
        return _session(_client().v1.checkout.sessions.expire(session_id))


def refund_create(*, payment_intent_id: str, order_id: int) -> str:
    """Refund the whole payment; the idempotency key makes a repeated refund the same one."""
    with _stripe_call("refunding a payment"):
        refund = _client().v1.refunds.create(
            params={"payment_intent": payment_intent_id, "metadata": {"order_id": str(order_id)}},
            options={"idempotency_key": f"agora-order-{order_id}-refund"},
        )
    return str(refund.id)


def webhook_event(payload: bytes, signature_header: str | None) -> object:
    """The JSON value in `payload`, after checking Stripe's signature over the raw body and
    that it was signed within the tolerance, before or after now; nothing in the body is
    trusted before this returns. Raises InvalidWebhook when the delivery is not ours to
    trust, UnusableEvent when it is signed but not JSON."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise InvalidWebhook("webhooks are not configured (STRIPE_WEBHOOK_SECRET is unset)")
    # The SDK compares signatures with hmac.compare_digest, which raises TypeError (not a
    # verification error) for a header with non-ASCII characters.
    if signature_header is not None and not signature_header.isascii():
        raise InvalidWebhook("the Stripe-Signature header is not ASCII")
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature_header, secret, tolerance)
    except (UnicodeDecodeError, stripe.SignatureVerificationError) as exc:
        raise InvalidWebhook(str(exc) or "invalid signature") from None
    # The SDK refuses only timestamps too far in the past; a signature dated in the future
    # would otherwise stay replayable until that date.
    if _signed_at(signature_header or "") > time.time() + tolerance:
        raise InvalidWebhook("timestamp in the future beyond the tolerance")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # deep nesting raises RecursionError
        raise UnusableEvent(f"the signed body is not JSON ({type(exc).__name__})") from None


def _signed_at(signature_header: str) -> int:
    """The `t=` of a header the SDK verified, read as the SDK reads it (its first `t`)."""
    for item in signature_header.split(","):
        parts = item.split("=", 2)
        if parts[0] == "t" and len(parts) > 1:
            try:
                return int(parts[1])
            except ValueError:
                break
    raise InvalidWebhook("no timestamp in the Stripe-Signature header")
