"""Account work that runs on the job workers (core.jobs)."""

from django.conf import settings
from django.urls import reverse

from accounts.address_check import address_check_link
from accounts.models import User
from accounts.password_reset import password_reset_link
from core.mail import mail_send


def password_reset_mail(user_id: int) -> None:
    """The reset link, made when the mail is sent (a job's arguments are stored and shown to
    operators, so they hold only the id)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None:
        mail_send(
            to=user.email,
            template="accounts/mail/password_reset",
            context={"link": password_reset_link(user)},
        )


def address_check_mail(user_id: int) -> None:
    """The sign-up's address check (accounts.address_check), made when it is sent."""
    user = User.objects.filter(pk=user_id, is_active=True, email_verified_at=None).first()
    if user is not None:
        mail_send(
            to=user.email,
            template="accounts/mail/address_check",
            context={"link": address_check_link(user)},
        )


def signup_attempt_mail(user_id: int) -> None:
    """Someone signed up with an address that has an account: its owner hears of it (and the
    sign-up's answer stays the same as for a free address, mail included)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is not None:
        context = {"reset_url": settings.SITE_URL + reverse("password-reset")}
        mail_send(to=user.email, template="accounts/mail/signup_attempt", context=context)
