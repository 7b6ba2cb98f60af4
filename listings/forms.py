"""Browse parameters, parsed once for the API and the pages alike."""

from decimal import Decimal

from django import forms

from listings.selectors import ORDERINGS, BrowseFilters

MAX_PRICE = Decimal("99999999.99")


class ListingBrowseForm(forms.Form):
    search = forms.CharField(required=False, max_length=100, strip=True)
    min_price = forms.DecimalField(
        required=False, min_value=Decimal("0"), max_value=MAX_PRICE, decimal_places=2
    )
    max_price = forms.DecimalField(
        required=False, min_value=Decimal("0"), max_value=MAX_PRICE, decimal_places=2
    )
    seller = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    in_stock = forms.BooleanField(required=False)
    ordering = forms.ChoiceField(required=False, choices=[(key, key) for key in ORDERINGS])

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
