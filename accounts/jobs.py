"""Account work that runs on the job workers (core.jobs)."""

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
