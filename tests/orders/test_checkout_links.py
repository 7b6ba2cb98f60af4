"""Signed checkout links name one order, cannot be forged, and run out after 7 days."""

import time

import pytest

from orders.checkout_links import MAX_AGE, checkout_token, order_id_from_token


def test_a_link_names_its_order() -> None:
    assert order_id_from_token(checkout_token(42)) == 42


def test_a_forged_or_altered_link_names_nothing() -> None:
    token = checkout_token(42)
    assert order_id_from_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
    assert order_id_from_token("42") is None


def test_a_link_older_than_its_max_age_names_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    signed_at = time.time() - MAX_AGE.total_seconds() - 60
    monkeypatch.setattr("django.core.signing.time.time", lambda: signed_at)
    old = checkout_token(42)
    monkeypatch.undo()
    assert order_id_from_token(old) is None
