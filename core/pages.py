"""What every page view shares: the single error path (a domain error becomes a message on the
form the user sent, next to the field it names, so what they typed stays on the page), and safe
redirects."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

from core.errors import DomainError


def show_domain_error(
    request: HttpRequest, exc: DomainError, form: forms.Form | None = None
) -> None:
    """Attach `exc` to the form field it names, else to the form, else to the page."""
    if form is not None:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.message)
        return
    messages.error(request, exc.message)


def safe_next(request: HttpRequest, default: str) -> str:
    """Where a small POST form returns to: its `next` field if that is a page of this site
    (never an open redirect), else `default` (a URL or a URL name)."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(default)
