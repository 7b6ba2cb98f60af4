"""Browse parameters (parsed once for the API and the pages alike) and the seller's forms."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms

from listings.models import CURRENCIES, Listing
from listings.selectors import ORDERINGS, BrowseFilters
from listings.services import (
    MAX_SECRET_LENGTH,
    MAX_SECRETS_PER_UPLOAD,
    MAX_UNITS,
    ListingDetails,
)

MAX_PRICE = Decimal("99999999.99")


# What the browse page calls each ordering (the API takes the keys).
ORDERING_LABELS = {
    "newest": "Newest",
    "price": "Price: low to high",
    "-price": "Price: high to low",
    "best_selling": "Best selling",
}


class ListingBrowseForm(forms.Form):
    search = forms.CharField(required=False, max_length=100, strip=True)
    min_price = forms.DecimalField(
        label="Min price",
        required=False,
        min_value=Decimal("0"),
        max_value=MAX_PRICE,
        decimal_places=2,
    )
    max_price = forms.DecimalField(
        label="Max price",
        required=False,
        min_value=Decimal("0"),
        max_value=MAX_PRICE,
        decimal_places=2,
    )
    seller = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    in_stock = forms.BooleanField(label="In stock only", required=False)
    ordering = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[(key, ORDERING_LABELS.get(key, key)) for key in ORDERINGS],
    )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        low, high = cleaned.get("min_price"), cleaned.get("max_price")
        if low is not None and high is not None and low > high:
            self.add_error("max_price", "max_price must not be below min_price.")
        return cleaned

    def filters(self) -> BrowseFilters:
        """Call after is_valid()."""
        data = self.cleaned_data
        return BrowseFilters(
            search=data.get("search") or "",
            min_price=data.get("min_price"),
            max_price=data.get("max_price"),
            seller_id=data.get("seller"),
            in_stock=bool(data.get("in_stock")),
            ordering=data.get("ordering") or "newest",
        )


# --- Seller pages ----------------------------------------------------------------------------
# The pages parse input here and hand it to listings.services, the same functions the API
# calls, so every rule (price > 0, distinct pool secrets, ...) is enforced once, in the service.

SECRETS_FILE_MAX_BYTES = MAX_SECRETS_PER_UPLOAD * (MAX_SECRET_LENGTH + 2)
REENTER_NOTE = "Not kept after an error, for your safety: enter it again."
RECHOOSE_NOTE = "Not kept after an error: choose the file again."


class _NoEcho:
    """A widget mixin that never writes the value back into the page.

    Secrets must not travel back to the browser (they would sit in the HTML, the browser's
    cache and any screenshot), so a form redisplayed after an error shows them empty.
    """

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        return super().get_context(name, None, attrs)  # type: ignore[misc]


class SecretInput(_NoEcho, forms.TextInput):
    pass


class SecretTextarea(_NoEcho, forms.Textarea):
    pass


NO_AUTOFILL = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"}


def _replace_help_text(form: forms.Form, name: str, text: str) -> None:
    """Set a field's help text after validation (its BoundField keeps a copy by then)."""
    form.fields[name].help_text = text
    form[name].help_text = text


def secret_lines(text: str) -> list[str]:
    """One secret per line; surrounding spaces and blank lines (a trailing newline) ignored."""
    return [line.strip() for line in text.splitlines() if line.strip()]


class ListingDetailsForm(forms.Form):
    """What buyers read about a listing; the bounds match the model's columns."""

    DETAIL_FIELDS = tuple(ListingDetails.__dataclass_fields__)

    service_name = forms.CharField(max_length=120)
    description = forms.CharField(
        max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    unit_description = forms.CharField(
        max_length=120, help_text="What one unit buys, e.g. “per 1000 requests”."
    )
    price_per_unit = forms.DecimalField(
        label="Price per unit",
        min_value=Decimal("0.01"),
        max_value=MAX_PRICE,
        max_digits=10,
        decimal_places=2,
    )
    currency = forms.ChoiceField(choices=CURRENCIES, initial="USD")
    endpoint_url = forms.URLField(
        label="Endpoint URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="Optional: where buyers use what they buy.",
    )

    def details(self) -> ListingDetails:
        """Call after is_valid()."""
        return ListingDetails(**{name: self.cleaned_data[name] for name in self.DETAIL_FIELDS})


class SecretsUploadMixin(forms.Form):
    """Pool secrets pasted one per line, or a UTF-8 text file of them (or both, added up)."""

    secrets = forms.CharField(
        label="Secrets, one per line",
        required=False,
        strip=False,
        widget=SecretTextarea(attrs={"rows": 8, **NO_AUTOFILL}),
        help_text=f"Each line is one unit. Up to {MAX_SECRETS_PER_UPLOAD} at a time.",
    )
    secrets_file = forms.FileField(
        label="…or a text file",
        required=False,
        help_text="Plain UTF-8 text, one secret per line.",
        widget=forms.ClearableFileInput(attrs={"accept": ".txt,.csv,text/plain"}),
    )

    def clean_secrets_file(self) -> list[str]:
        upload = self.cleaned_data.get("secrets_file")
        if not upload:
            return []
        if upload.size is not None and upload.size > SECRETS_FILE_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is too large: at most {MAX_SECRETS_PER_UPLOAD} secrets of "
                f"{MAX_SECRET_LENGTH} characters."
            )
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                "The file must be plain UTF-8 text, one secret per line."
            ) from None
        return secret_lines(text)

    def secret_list(self) -> list[str]:
        """The pasted secrets followed by the file's; call after is_valid()."""
        return secret_lines(self.cleaned_data.get("secrets") or "") + list(
            self.cleaned_data.get("secrets_file") or []
        )

    def forget_secrets(self) -> None:
        """After a failed submission: tell the seller which secret fields to fill in again."""
        for name, note in (("secrets", REENTER_NOTE), ("secrets_file", RECHOOSE_NOTE)):
            if name in self.fields and (self.data.get(name) or self.files.get(name)):
                _replace_help_text(self, name, note)


class ListingCreateForm(ListingDetailsForm, SecretsUploadMixin):
    """A new listing. Fields of the delivery mode not chosen are ignored (without JavaScript
    both sets are on the page, and a seller may type in one before switching)."""

    delivery_mode = forms.ChoiceField(
        label="Delivery",
        choices=[
            (Listing.DeliveryMode.SHARED, "Shared: every unit delivers the same secret"),
            (Listing.DeliveryMode.POOL, "Pool: each unit delivers its own secret, never twice"),
        ],
        widget=forms.RadioSelect,
        initial=Listing.DeliveryMode.SHARED,
    )
    secret = forms.CharField(
        label="Shared secret",
        required=False,
        max_length=MAX_SECRET_LENGTH,
        widget=SecretInput(attrs=NO_AUTOFILL),
        help_text="Every buyer receives this value (an API key, a password…).",
    )
    units = forms.IntegerField(
        label="Units on sale",
        required=False,
        min_value=0,
        max_value=MAX_UNITS,
        help_text="Shared listings only.",
    )

    field_order = [*ListingDetailsForm.DETAIL_FIELDS, "delivery_mode", "secret", "units"]

    def forget_secrets(self) -> None:
        super().forget_secrets()
        if self.data.get("secret"):
            _replace_help_text(self, "secret", REENTER_NOTE)

    def is_shared(self) -> bool:
        return self.cleaned_data["delivery_mode"] == Listing.DeliveryMode.SHARED


class ListingEditForm(ListingDetailsForm):
    """Details and price; for shared listings also the stock and a new secret.

    `units` carries the value the seller saw in a hidden field (show_hidden_initial), so
    saving a price change does not overwrite the stock with a number that purchases have
    since made stale: units are written only when the seller changed them.
    """

    units = forms.IntegerField(
        label="Units on sale",
        min_value=0,
        max_value=MAX_UNITS,
        show_hidden_initial=True,
        help_text="Set the stock: raise it to restock, lower it to sell fewer.",
    )
    secret = forms.CharField(
        label="New shared secret",
        required=False,
        max_length=MAX_SECRET_LENGTH,
        widget=SecretInput(attrs=NO_AUTOFILL),
        help_text="Leave blank to keep the current secret. A new one reaches every buyer.",
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, listing: Listing) -> None:
        initial = {name: getattr(listing, name) for name in self.DETAIL_FIELDS}
        initial["units"] = listing.available_units
        super().__init__(data, initial=initial)
        if listing.delivery_mode != Listing.DeliveryMode.SHARED:
            # A pool's units are its undelivered secrets: they change by uploading secrets.
            del self.fields["units"], self.fields["secret"]

    def changes(self) -> dict[str, Any]:
        """What the seller changed, as listings.services.listing_update takes it."""
        changed = {
            name: self.cleaned_data[name]
            for name in (*self.DETAIL_FIELDS, "units")
            if name in self.changed_data
        }
        if self.cleaned_data.get("secret"):
            changed["secret"] = self.cleaned_data["secret"]
        return changed

    def forget_secrets(self) -> None:
        if "secret" in self.fields and self.data.get("secret"):
            _replace_help_text(self, "secret", REENTER_NOTE)


class PoolSecretsForm(SecretsUploadMixin):
    """More secrets for a pool listing."""


class ListingStatusForm(forms.Form):
    """Pause or resume: the only statuses a seller sets (operators suspend and approve)."""

    status = forms.ChoiceField(
        choices=[(Listing.Status.ACTIVE, "Resume"), (Listing.Status.PAUSED, "Pause")]
    )
