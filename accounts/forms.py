"""Login forms for pages and the admin, behind the same failed-login throttle as the API."""

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm

from accounts.services import InvalidCredentials, user_authenticate
from core.errors import ServiceUnavailable, Throttled
from core.request_origin import client_ip


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's login, counted and refused exactly like an API login (SPEC §2)."""

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email and password:
            try:
                self.user_cache = user_authenticate(
                    request=self.request,
                    email=email,
                    password=password,
                    ip=client_ip(self.request) if self.request else None,
                )
            except InvalidCredentials:
                raise self.get_invalid_login_error() from None
            except (Throttled, ServiceUnavailable) as exc:
                raise forms.ValidationError(exc.message, code=exc.code) from None
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


# --- Account pages --------------------------------------------------------------------------
# The forms only parse what was typed; accounts.services decides (password rules, the login
# throttle; a taken email is not an error, so that sign-up does not tell who has an account),
# exactly as for the API. Password inputs are never rendered back with what was typed
# (Django's PasswordInput default).

PASSWORD_MAX_LENGTH = 128  # as the API's serializers


def _email_field(autocomplete: str = "email") -> forms.CharField:
    # A CharField, as the API takes it: a malformed address is just a failed login, and the
    # browser's type=email check already helps people who mistype.
    return forms.CharField(
        label="Email",
        max_length=254,
        strip=True,
        widget=forms.EmailInput(attrs={"autocomplete": autocomplete, "autofocus": True}),
    )


def _password_field(label: str, autocomplete: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=PASSWORD_MAX_LENGTH,
        strip=False,
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


NEW_PASSWORD_HELP = "At least 8 characters; not a common or all-numeric password."  # noqa: S105
MISMATCH = "The two passwords do not match."


class _PasswordTypedTwice(forms.Form):
    """A new password and its repetition (the names in `typed_twice`), which must match."""

    typed_twice = ("new_password", "new_password_again")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = self.typed_twice
        password, again = cleaned.get(first), cleaned.get(second)
        if password and again and password != again:
            self.add_error(second, MISMATCH)
        return cleaned


class SignupForm(_PasswordTypedTwice):
    typed_twice = ("password", "password_again")
    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = _password_field("Password", "new-password", NEW_PASSWORD_HELP)
    password_again = _password_field("Password again", "new-password")


class LoginForm(forms.Form):
    email = _email_field()
    password = _password_field("Password", "current-password")


class DisplayNameForm(forms.Form):
    display_name = forms.CharField(
        label="Seller display name",
        min_length=1,
        max_length=80,
        strip=True,
        help_text="What buyers see as the seller of your listings.",
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )


class PasswordChangeForm(_PasswordTypedTwice):
    current_password = _password_field("Current password", "current-password")
    new_password = _password_field("New password", "new-password", NEW_PASSWORD_HELP)
    new_password_again = _password_field("New password again", "new-password")


class PasswordResetRequestForm(forms.Form):
    email = _email_field()


class PasswordResetForm(_PasswordTypedTwice):
    new_password = _password_field("New password", "new-password", NEW_PASSWORD_HELP)
    new_password_again = _password_field("New password again", "new-password")
