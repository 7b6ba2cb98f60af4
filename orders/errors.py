"""Why an order request was refused (rendered by core.api's handler)."""

from core.errors import DomainError


class InsufficientUnits(DomainError):
    code = "insufficient_units"


class ListingUnavailable(DomainError):
    code = "listing_unavailable"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"


class OrderStateConflict(DomainError):
    code = "order_state_conflict"


class CheckoutPending(DomainError):
    """Another request for this order is opening its Checkout Session right now."""

    code = "checkout_pending"


class PaymentsUnavailable(DomainError):
    """Card payments cannot be taken at all (no Stripe key outside debug)."""

    status_code = 503
    code = "payments_unavailable"


class PaymentProviderError(DomainError):
    """Stripe failed; `transient` errors answer 503 (retry), the others 502."""

    code = "payment_provider_error"

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.status_code = 503 if transient else 502
