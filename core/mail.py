"""Mail from templates, sent through Django's email API (settings.EMAIL_URL).

Called by jobs (core.jobs), never inside a request: a slow or failing mail server then
delays a mail, never a page, and a failure is retried. A mail is three templates: the
subject (`<name>_subject.txt`, one line), the text (`<name>.txt`) and the HTML
(`<name>.html`). None may hold a secret: a vault secret never leaves the tokens page.
"""

from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string


def mail_send(*, to: str, template: str, context: dict[str, Any]) -> None:
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string(f"{template}.txt", context), to=[to]
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    message.send()
