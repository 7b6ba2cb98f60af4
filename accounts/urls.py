from django.urls import path

from accounts import views

urlpatterns = [
    path("signup", views.signup, name="signup"),
    path("login", views.login, name="login"),
    path("logout", views.logout, name="logout"),
    path("account", views.account, name="account"),
    path("account/password", views.password_change, name="password-change"),
    path("account/verify-email", views.verify_email_send, name="verify-email-send"),
    path("verify-email/<str:token>", views.verify_email, name="verify-email"),
    path("password-reset", views.password_reset_request, name="password-reset"),
    path(
        "reset-password/<str:token>",
        views.password_reset_confirm,
        name="password-reset-confirm",
    ),
    path(
        "account/sessions/<int:session_id>/revoke",
        views.session_revoke,
        name="account-session-revoke",
    ),
]
