"""A small Stripe stand-in on 127.0.0.1 for the real `stripe` SDK, and Stripe's webhook signing.

`localstripe` has no Checkout Sessions, so this serves the four endpoints Agora calls, with
Stripe's shapes, form-encoded parameters and idempotency keys. Tests drive the payment side
(`pay`, `expire_on_stripe`, `down`) and sign events exactly as Stripe does.

Idempotency keys behave as Stripe documents them: a key reused with other parameters is
refused (400 `idempotency_error`), and a key whose first request is still running answers
409 `idempotency_key_in_use` (see `create_delay` for a slow Stripe). `pay` changes the
session on "Stripe" without sending any webhook: tests deliver events, or lose them.
"""

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

SessionHook = Callable[[str], None]
WEBHOOK_PATH = "/api/v1/payments/stripe/webhook"


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """`Stripe-Signature` as Stripe computes it: HMAC-SHA256 over "<t>.<raw body>"."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _error(
    status: int, message: str, kind: str = "invalid_request_error", code: str | None = None
) -> Response:
    body = {"error": {"type": kind, "message": message, "code": code}}
    return Response(json.dumps(body), status=status, content_type="application/json")


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=200, content_type="application/json")


@dataclass
class FakeStripe:
    server: HTTPServer
    api_key: str = field(default_factory=lambda: "sk_test_" + secrets.token_hex(12))
    webhook_secret: str = field(default_factory=lambda: "whsec_" + secrets.token_hex(16))
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    # (method, path, headers) of every call, e.g. to check the Idempotency-Key sent
    received: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    down: bool = False  # answer every call with a 503, as during an outage
    refuse: bool = False  # answer every call with a 400, as for a bad request
    dashboard_refunded: set[str] = field(default_factory=set)  # payment intents
    on_call: SessionHook | None = None  # runs inside each call (e.g. to probe for locks)
    # Seconds each Checkout Session creation takes (a slow Stripe); meanwhile a request with
    # the same Idempotency-Key is answered 409 idempotency_key_in_use, as Stripe answers it.
    # Concurrent requests need a threaded server (HTTPServer(threaded=True)).
    create_delay: float = 0.0
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    # key -> (the request it was first used for, the answer)
    _idempotent: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=dict)
    _in_flight: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server.expect_request("/v1/checkout/sessions", method="POST").respond_with_handler(
            self._guarded(self._create_session)
        )
        self.server.expect_request(
            _pattern(r"/v1/checkout/sessions/[\w-]+/expire"), method="POST"
        ).respond_with_handler(self._guarded(self._expire_session))
        self.server.expect_request(
            _pattern(r"/v1/checkout/sessions/[\w-]+"), method="GET"
        ).respond_with_handler(self._guarded(self._retrieve_session))
        self.server.expect_request("/v1/refunds", method="POST").respond_with_handler(
            self._guarded(self._create_refund)
        )

    @property
    def api_base(self) -> str:
        return self.server.url_for("").rstrip("/")

    def settings(self) -> dict[str, Any]:
        """What to pass to override_settings to point the app at this fake."""
        return {
            "STRIPE_SECRET_KEY": self.api_key,
            "STRIPE_WEBHOOK_SECRET": self.webhook_secret,
            "STRIPE_API_BASE": self.api_base,
            "STRIPE_MAX_NETWORK_RETRIES": 0,
            "STRIPE_TIMEOUT_SECONDS": 5.0,
        }

    # --- the payment side, driven by tests ---------------------------------------------

    def pay(self, session_id: str, *, payment_status: str = "paid") -> dict[str, Any]:
        """The buyer completes Checkout (no webhook is sent); returns the session as Stripe
        would now show it. "unpaid" is a delayed method (a bank debit) still processing; a
        later `pay` settles it, on the same payment intent."""
        with self._lock:
            session = self.sessions[session_id]
            session.update(status="complete", payment_status=payment_status)
            intent_id = session["payment_intent"] or "pi_" + secrets.token_hex(12)
            session["payment_intent"] = intent_id
            self.payment_intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "status": "succeeded" if payment_status == "paid" else "processing",
            }
            return dict(session)

    def fail_payment(self, session_id: str) -> dict[str, Any]:
        """A delayed payment on a completed session fails (the debit bounced)."""
        with self._lock:
            session = self.sessions[session_id]
            intent_id = session["payment_intent"]
            self.payment_intents[intent_id]["status"] = "requires_payment_method"
            return dict(session)

    def expire_on_stripe(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            self.sessions[session_id]["status"] = "expired"
            return dict(self.sessions[session_id])

    def reset(self) -> None:
        """A fresh Stripe account: no sessions, refunds, calls or remembered idempotency keys.

        For tests that roll the database back between examples (order ids, and with them the
        app's idempotency keys, may then be reused)."""
        with self._lock:
            self.sessions.clear()
            self.refunds.clear()
            self.calls.clear()
            self.payment_intents.clear()
            self._idempotent.clear()
            self._in_flight.clear()
            self.down = self.refuse = False
            self.on_call = None
            self.create_delay = 0.0

    def session_for(self, order_id: int) -> dict[str, Any]:
        return next(s for s in self.sessions.values() if s["metadata"]["order_id"] == str(order_id))

    def event(self, event_type: str, session: dict[str, Any], event_id: str | None = None) -> bytes:
        """A webhook body for `session`, as Stripe would send it."""
        body = {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": event_type,
            "livemode": False,
            "created": int(time.time()),
            "data": {"object": session},
        }
        return json.dumps(body).encode()

    def deliver(self, event_type: str, session: dict[str, Any]) -> Any:
        """Post a `event_type` event for `session` to Agora's webhook, signed as Stripe signs."""
        from rest_framework.test import APIClient

        payload = self.event(event_type, session)
        headers: dict[str, Any] = self.signed(payload)
        return APIClient().post(WEBHOOK_PATH, payload, content_type="application/json", **headers)

    def signed(self, payload: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Headers for posting `payload` to the webhook with a valid signature."""
        return {"HTTP_STRIPE_SIGNATURE": stripe_signature(payload, self.webhook_secret, timestamp)}

    # --- the API ---------------------------------------------------------------------

    def _guarded(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            self.calls.append((request.method, request.path))
            self.received.append((request.method, request.path, dict(request.headers)))
            if request.headers.get("Authorization") != f"Bearer {self.api_key}":
                return _error(401, "Invalid API Key provided", "authentication_error")
            if self.on_call is not None:
                self.on_call(request.path)
            if self.down:
                return _error(503, "Stripe is unavailable", "api_error")
            if self.refuse:
                return _error(400, "Invalid request")
            key = request.headers.get("Idempotency-Key")
            asked = (request.method, request.path, tuple(sorted(request.form.items(multi=True))))
            with self._lock:
                if key and key in self._idempotent:
                    first, answer = self._idempotent[key]
                    if first != asked:
                        return _error(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                            "idempotency_error",
                        )
                    return _json(answer)
                if key and key in self._in_flight:
                    return _error(
                        409,
                        "There is currently another in-progress request using this "
                        "Idempotency Key. Please try again later.",
                        code="idempotency_key_in_use",
                    )
                if key:
                    self._in_flight.add(key)
            try:
                if self.create_delay and request.path == "/v1/checkout/sessions":
                    time.sleep(self.create_delay)
                with self._lock:
                    response = handler(request)
                    if key and response.status_code == 200:
                        self._idempotent[key] = (asked, json.loads(response.get_data()))
                    return response
            finally:
                with self._lock:
                    self._in_flight.discard(key or "")

        return run

    def _create_session(self, request: Request) -> Response:
        form = request.form
        session_id = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "status": "open",
            "payment_status": "unpaid",
            "payment_intent": None,
            "mode": form.get("mode"),
            "currency": form.get("line_items[0][price_data][currency]"),
            "amount_total": int(form["line_items[0][price_data][unit_amount]"])
            * int(form["line_items[0][quantity]"]),
            "metadata": {"order_id": form.get("metadata[order_id]")},
            "client_reference_id": form.get("client_reference_id"),
            "expires_at": int(form["expires_at"]),
            "success_url": form.get("success_url"),
            "cancel_url": form.get("cancel_url"),
            "params": dict(form),
        }
        self.sessions[session_id] = session
        return _json(session)

    def _retrieve_session(self, request: Request) -> Response:
        session = self.sessions.get(request.path.rsplit("/", 1)[1])
        if session is None:
            return _error(404, "No such checkout.session", code="resource_missing")
        intent = self.payment_intents.get(session["payment_intent"] or "")
        if intent and "payment_intent" in request.args.getlist("expand[0]"):
            return _json({**session, "payment_intent": dict(intent)})
        return _json(session)

    def _expire_session(self, request: Request) -> Response:
        session = self.sessions.get(request.path.split("/")[-2])
        if session is None:
            return _error(404, "No such checkout.session", code="resource_missing")
        if session["status"] != "open":
            return _error(400, f"This Checkout Session is {session['status']}; cannot expire.")
        session["status"] = "expired"
        return _json(session)

    def refund_on_dashboard(self, payment_intent: str) -> None:
        """An operator refunds the payment in Stripe's dashboard, outside Agora."""
        self.dashboard_refunded.add(payment_intent)

    def _create_refund(self, request: Request) -> Response:
        if request.form.get("payment_intent") in self.dashboard_refunded:
            return _error(400, "Charge has already been refunded.", code="charge_already_refunded")
        refund = {
            "id": "re_" + secrets.token_hex(12),
            "object": "refund",
            "payment_intent": request.form.get("payment_intent"),
            "status": "succeeded",
            "metadata": {"order_id": request.form.get("metadata[order_id]")},
        }
        self.refunds.append(refund)
        return _json(refund)


def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(f"^{regex}$")
