"""Account pages: sign up, log in, log out, the account page with its sessions, password change.

They call accounts.services like the API does: the same password rules, the same failed-login
throttle, the same session revocation. A page login is a revocable session too (see
accounts.middleware), so the account page lists browsers and API tokens side by side.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import address_check, password_reset, selectors, services
from accounts.current_user import page_user
from accounts.forms import (
    DisplayNameForm,
    LoginForm,
    PasswordChangeForm,
    PasswordResetForm,
    PasswordResetRequestForm,
    SignupForm,
)
from accounts.middleware import (
    browser_login,
    browser_logout,
    browser_session_link,
    linked_session_id,
)
from accounts.models import User
from core.errors import DomainError, NotFound, ServiceUnavailable, Throttled
from core.pages import show_domain_error
from core.request_origin import client_ip

SESSIONS_PAGE_SIZE = 50


def _next_url(request: HttpRequest) -> str:
    """The `next` page (POST field or query parameter) if it is a page of this site, else ""."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _after_login(request: HttpRequest) -> str:
    return _next_url(request) or resolve_url(settings.LOGIN_REDIRECT_URL)


def _login_url(request: HttpRequest) -> str:
    """The login page, keeping a safe `next` for after it."""
    url = resolve_url("login")
    target = _next_url(request)
    return f"{url}?{urlencode({'next': target})}" if target else url


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account (every account can buy and sell), then log in with it.

    A sign-up with a free address and one with a taken address look the same (issue 14):
    both go on to the login page with the same message, and neither is signed in, since
    signing in only the new account would tell the two apart (docs/decisions.md).
    """
    status = 200
    if request.method != "POST":
        form = SignupForm()
    else:
        form = SignupForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                services.user_register(
                    email=form.cleaned_data["email"], password=form.cleaned_data["password"]
                )
            except DomainError as exc:
                show_domain_error(request, exc, form)
            else:
                messages.success(request, services.REGISTRATION_ACCEPTED)
                return redirect(_login_url(request))
    context = {"form": form, "next": _next_url(request)}
    return render(request, "accounts/signup.html", context, status=status)


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    """Log in behind the failed-login throttle shared with the API and the admin.

    A refusal never says whether the email or the password was wrong; a throttled login is a
    429 (with Retry-After) and an unreachable throttle cache a 503, as in the API.
    """
    status = 200
    headers: dict[str, str] = {}
    if request.method != "POST":
        form = LoginForm()
    else:
        form = LoginForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                user = services.user_authenticate(
                    request=request,
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password"],
                    ip=client_ip(request),
                )
            except (Throttled, ServiceUnavailable) as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
                if isinstance(exc, Throttled):
                    headers["Retry-After"] = str(exc.retry_after)
            except DomainError as exc:  # InvalidCredentials: one message for every cause
                form.add_error(None, exc.message)
            else:
                browser_login(request, user)
                return redirect(_after_login(request))
    context = {"form": form, "next": _next_url(request)}
    response = render(request, "accounts/login.html", context, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@require_http_methods(["GET", "POST"])
def logout(request: HttpRequest) -> HttpResponse:
    """Log out on POST only (a link or a prefetch must not sign anyone out); a GET shows the
    button. The browser's session is revoked, not just forgotten."""
    if request.method != "POST":
        return render(request, "accounts/logout.html")
    browser_logout(request)
    messages.success(request, "You have logged out.")
    return redirect("home")


def _account_page(
    request: HttpRequest, user: User, name_form: DisplayNameForm, *, status: int = 200
) -> HttpResponse:
    """Email, seller name, and the live sessions: a fixed number of queries however many."""
    sessions = Paginator(selectors.api_sessions_live(user=user), SESSIONS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "name_form": name_form,
        "sessions": sessions,
        "this_session_id": linked_session_id(request),
    }
    return render(request, "accounts/account.html", context, status=status)


def _seller_name(user: User) -> str:
    profile = getattr(user, "seller_profile", None)
    return profile.display_name if profile else ""


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """The account page; a POST sets the seller display name (as PATCH /api/v1/auth/me)."""
    user = page_user(request)
    if request.method != "POST":
        name_form = DisplayNameForm(initial={"display_name": _seller_name(user)})
        return _account_page(request, user, name_form)
    name_form = DisplayNameForm(request.POST)
    if name_form.is_valid():
        try:
            profile = services.seller_profile_ensure(
                user=user, display_name=name_form.cleaned_data["display_name"]
            )
        except DomainError as exc:
            show_domain_error(request, exc, name_form)
        else:
            messages.success(request, f"Buyers now see you as “{profile.display_name}”.")
            return redirect("account")
    return _account_page(request, user, name_form, status=400)


@login_required
@require_POST
def session_revoke(request: HttpRequest, session_id: int) -> HttpResponse:
    """End one of the user's sessions; ending this browser's own is logging out."""
    user = page_user(request)
    if session_id == linked_session_id(request):
        browser_logout(request)
        messages.success(request, "You ended this browser's session and are logged out.")
        return redirect("login")
    try:
        services.api_session_revoke(user=user, session_id=session_id)
    except NotFound as exc:  # someone else's session, or none: the same answer
        raise Http404(exc.message) from exc
    messages.success(request, "Session ended: it can no longer be used.")
    return redirect("account")


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    """Change the password; every session ends (the service's rule), then this browser gets
    a fresh one, since the person who just typed the current password is the one here
    (docs/decisions.md)."""
    user = page_user(request)
    status = 200
    if request.method != "POST":
        form = PasswordChangeForm()
    else:
        form = PasswordChangeForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                services.user_change_password(
                    user=user,
                    current_password=form.cleaned_data["current_password"],
                    new_password=form.cleaned_data["new_password"],
                    ip=client_ip(request),
                )
            except DomainError as exc:
                show_domain_error(request, exc, form)
            else:
                update_session_auth_hash(request, user)
                browser_session_link(request, user)
                messages.success(
                    request,
                    "Password changed. Every other browser and API token was signed out.",
                )
                return redirect("account")
    return render(request, "accounts/password_change.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def password_reset_request(request: HttpRequest) -> HttpResponse:
    """Ask for a reset link by mail; the answer is the same whether the address has an
    account or not."""
    status = 200
    if request.method != "POST":
        form = PasswordResetRequestForm()
    else:
        form = PasswordResetRequestForm(request.POST)
        status = 400
        if form.is_valid():
            password_reset.password_reset_request(email=form.cleaned_data["email"])
            messages.success(request, password_reset.RESET_REQUESTED)
            return redirect("login")
    return render(request, "accounts/password_reset_request.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def password_reset_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The link of the mail: choose a new password. Every session of the account ends, this
    browser's too (it proved only that it can read the mail), so it goes on to log in."""
    if password_reset.password_reset_user(token) is None:
        context = {"invalid": password_reset.INVALID_LINK}
        return render(request, "accounts/password_reset.html", context, status=400)
    status = 200
    if request.method != "POST":
        form = PasswordResetForm()
    else:
        form = PasswordResetForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                password_reset.password_reset_confirm(
                    token=token, new_password=form.cleaned_data["new_password"]
                )
            except DomainError as exc:
                show_domain_error(request, exc, form)
            else:
                messages.success(
                    request, "Password set. Every session was signed out: log in with it."
                )
                return redirect("login")
    return render(request, "accounts/password_reset.html", {"form": form}, status=status)


@login_required
@require_POST
def verify_email_send(request: HttpRequest) -> HttpResponse:
    """Mail the address-check link again."""
    address_check.address_check_send(page_user(request))
    messages.success(request, address_check.CHECK_SENT)
    return redirect("account")


@require_GET
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link of the address-check mail: following it confirms the address (signed in or
    not, since reading the mail is the proof)."""
    try:
        user = address_check.address_verify(token=token)
    except DomainError as exc:
        return render(request, "accounts/verify_email.html", {"error": exc.message}, status=400)
    return render(request, "accounts/verify_email.html", {"email": user.email})
