"""The buy form of the listing page, parsed here and handed to orders.services.order_create,
the function the API calls, so the page and the API enforce the same rules."""

import uuid
from typing import Any

from django import forms

from listings.models import Listing
from orders.services import MAX_UNITS_PER_ORDER

STALE_FORM = "This form has expired: check the units and buy again."


class BuyForm(forms.Form):
    """Units to buy, and the idempotency key the page was rendered with.

    The key is a fresh uuid4 per rendering of the page, sent back in a hidden field: a double
    click, a resubmitted POST or a reload of the result sends the same key, and order_create
    answers it with the first order instead of buying twice. The form only checks the bounds
    any order has; whether this listing has that many units is the service's call, so the
    message is the same one the API gives.
    """

    units = forms.IntegerField(min_value=1, max_value=MAX_UNITS_PER_ORDER, initial=1)
    idempotency_key = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages={"required": STALE_FORM, "invalid": STALE_FORM},
    )

    def __init__(self, *args: Any, listing: Listing | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"units": 1, "idempotency_key": uuid.uuid4()})
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if listing is not None:
            self.show_stock(listing)

    def show_stock(self, listing: Listing) -> None:
        """Bound the number input by what is on sale now: the browser's own check (no
        JavaScript needed) stops a buyer before the server has to."""
        most = max(1, min(listing.available_units, MAX_UNITS_PER_ORDER))
        self.fields["units"].widget.attrs["max"] = most
        help_text = f"{listing.unit_description}; up to {most} per order."
        # The bound field may exist already (a validated form): it keeps its own copy.
        self.fields["units"].help_text = self["units"].help_text = help_text

    def renew_key(self) -> None:
        """Put a fresh key into the page after the old one was refused (used by an earlier
        order with other units, or missing): the next submission is a new purchase."""
        data = {key: self.data.get(key) for key in self.data}
        data[self.add_prefix("idempotency_key")] = str(uuid.uuid4())
        self.data = data

    def key(self) -> str:
        """Call after is_valid()."""
        return str(self.cleaned_data["idempotency_key"])
