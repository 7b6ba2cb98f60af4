"""Login forms for pages and the admin, behind the same failed-login throttle as the API."""

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm

from accounts.services import InvalidCredentials, user_authenticate
from marketplace.errors import ServiceUnavailable, Throttled
from marketplace.request_origin import client_ip


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
