"""The pages' single error path: a domain error becomes a message on the form the user sent,
next to the field it names, so what they typed stays on the page."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest

from marketplace.errors import DomainError


def show_domain_error(request: HttpRequest, exc: DomainError, form: forms.Form | None = None) -> None:
    """Attach `exc` to the form field it names, else to the form, else to the page."""
    if form is not None:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.message)
        return
    messages.error(request, exc.message)
