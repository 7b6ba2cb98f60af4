"""Agora settings: every value comes from the environment (see README for the table).

Production (DEBUG false) refuses to start without SECRET_KEY and a valid VAULT_KEYS; debug
mode supplies development values so `make run` works on a fresh machine.
"""

from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from whitenoise.compress import Compressor

from core.rate_limit import parse_rate
from tokens_vault.keyring import KeyRingError, generate_key_entry, parse_keyring

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-agora-development-only")
else:
    try:
        SECRET_KEY = env.str("SECRET_KEY")
    except ImproperlyConfigured:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is false") from None

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",  # for `manage.py clearsessions`; its table is no longer used
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "core",
    "accounts",
    "listings",
    "orders",
    "tokens_vault",
    "audit",
]

MIDDLEWARE = [
    # First: times the whole request and sets the request id every later log line carries.
    "core.request_log.RequestLogMiddleware",
    # Second: answers repeated anonymous API listing reads with stored bytes (see its module).
    "listings.response_cache.PublicResponseCacheMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Signs a browser out when its session is revoked (needs auth and messages before it).
    "accounts.middleware.LinkedSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "marketplace.urls"
WSGI_APPLICATION = "marketplace.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections: measured faster than psycopg's pool with gunicorn sync workers.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # A persistent connection that died while idle is replaced before a request uses it.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Server-side parameters, and psycopg prepares a statement the fifth time a connection
    # runs it: PostgreSQL then skips parsing and planning it (docs/benchmarks.md). PgBouncer
    # in transaction mode needs 1.21+ (prepared statements).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": 5}
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Take the write lock when a transaction starts, so concurrent dev requests wait instead
    # of failing with "database is locked" when a read turns into a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Email (core/mail.py: sent by job workers, never inside a request) -------------------------

# django-environ's form: smtp://user:password@host:587 (smtp+tls://, smtp+ssl://), consolemail://.
_mail = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
_SMTP = "django.core.mail.backends.smtp.EmailBackend"
MAILERS = {
    "default": {
        "BACKEND": _mail["EMAIL_BACKEND"],
        "OPTIONS": {
            "host": _mail["EMAIL_HOST"],
            "port": _mail["EMAIL_PORT"],
            "username": _mail["EMAIL_HOST_USER"],
            "password": _mail["EMAIL_HOST_PASSWORD"],
            "use_tls": _mail.get("EMAIL_USE_TLS", False),
            "use_ssl": _mail.get("EMAIL_USE_SSL", False),
            # A mail server that hangs fails the job after this long, and it is retried.
            "timeout": 10,
        }
        if _mail["EMAIL_BACKEND"] == _SMTP
        else {},
    }
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Agora <no-reply@localhost>")
# A password-reset link works once, for this long (Django's token: its password hash changes).
PASSWORD_RESET_TIMEOUT = 60 * 60

# --- Background jobs (core/jobs.py; docs/decisions.md) -----------------------------------------

# Longest a job may run. A job whose worker died is handed to another worker once it has been
# taken for that long and as long again, or a minute, whichever is shorter.
JOB_TIMEOUT_SECONDS = env.int("JOB_TIMEOUT_SECONDS", default=300)
# A job that raises runs again after 10 s, 20 s, 40 s... (core.jobs.retry_delay), this often.
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=8)
Q_CLUSTER = {
    "name": "agora",
    "orm": "default",  # the queue is a table of the app's own database
    "workers": env.int("WORKER_PROCESSES", default=2),  # per `qcluster` process
    "timeout": JOB_TIMEOUT_SECONDS,
    "retry": JOB_TIMEOUT_SECONDS + min(JOB_TIMEOUT_SECONDS, 60),
    # Re-deliveries of a job whose worker died; failures retry through core.jobs instead.
    "max_attempts": 5,
    "ack_failures": True,
    "catch_up": False,  # a periodic job missed while no worker ran runs once, not per period
    "poll": 0.5,  # how often an idle worker looks at the queue, in seconds
    "save_limit": 1000,  # successful jobs kept for the admin; failed ones are all kept
    "label": "Jobs",
}
# Periodic jobs: name -> (function, minutes between runs). Synced into the database on every
# migrate (core.jobs.schedules_sync); operators see them in the admin.
JOB_SCHEDULES = {
    "sweep reservations": ("orders.jobs.reservations_sweep_job", 1),
}

# --- Cache (login throttling, listing cache and rate limits) ----------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
# Redis answers in well under a millisecond; one that accepts connections but never answers
# must cost a cache call at most this long, and after a few such calls in a row the
# backend's circuit breaker skips the cache for a few seconds (core/redis_cache.py).
REDIS_CACHE_OPTIONS = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's backend, reusing its redis client (see core/redis_cache.py).
            "BACKEND": "core.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Accounts and sessions --------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SESSION_TTL_DAYS = env.int("SESSION_TTL_DAYS", default=7)
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_IP_FAILURE_LIMIT = env.int("LOGIN_IP_FAILURE_LIMIT", default=50)

# Page and admin sessions are stored by the SHA-256 of their key (accounts/session_store.py).
SESSION_ENGINE = "accounts.session_store"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = not DEBUG

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe over plain http inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
# Strict Content Security Policy: our own origin only, no inline script or style anywhere.
# Buying redirects a form post to Stripe Checkout, which form-action must allow.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF, "https://checkout.stripe.com"],
}
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Marketplace rules ------------------------------------------------------------------------

SMALL_ORDER_LIMIT = Decimal(env.str("SMALL_ORDER_LIMIT", default="5.00"))
RESERVATION_MINUTES = env.int("RESERVATION_MINUTES", default=30)
LISTING_REVIEW = env.str("LISTING_REVIEW", default="post")
if LISTING_REVIEW not in {"post", "pre"}:
    raise ImproperlyConfigured("LISTING_REVIEW must be 'post' or 'pre'")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# --- Payments (Stripe Checkout; without a key, the dev checkout stands in when DEBUG) ---------

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # empty: Stripe's own address
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
if STRIPE_SECRET_KEY and not STRIPE_WEBHOOK_SECRET:
    raise ImproperlyConfigured("STRIPE_WEBHOOK_SECRET is required when STRIPE_SECRET_KEY is set")

# --- Token vault ------------------------------------------------------------------------------


def _vault_keys_spec() -> str:
    spec = env.str("VAULT_KEYS", default="")
    if spec or not DEBUG:
        return spec
    # Debug only: a generated key kept in a git-ignored file, so demo secrets survive restarts.
    key_file = BASE_DIR / ".dev-vault-key"
    if not key_file.exists():
        key_file.write_text(generate_key_entry("dev") + "\n")
        key_file.chmod(0o600)
    return key_file.read_text().strip()


try:
    VAULT_KEYRING = parse_keyring(_vault_keys_spec())
except KeyRingError as exc:
    raise ImproperlyConfigured(f"{exc} (VAULT_KEYS is required when DEBUG is false)") from None

# --- API --------------------------------------------------------------------------------------

# Per API session, signed-in browser or anonymous IP, shared through the cache; "off" disables.
API_RATE_LIMIT = parse_rate(env.str("API_RATE_LIMIT", default="600/min"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerSessionAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["core.api_throttle.ApiRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Agora API",
    "DESCRIPTION": "Buy and sell access to data services. Authenticate with "
    "`Authorization: Bearer <session_token>` from `POST /api/v1/auth/login/`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ListingStatusEnum": "listings.models.Listing.PUBLIC_STATUSES",
        "SellerListingStatusEnum": ["active", "paused"],
        "OrderStatusEnum": "orders.models.OrderStatus",
        "TokenStatusEnum": ["live", "revoked"],
    },
}

# --- Static files, i18n -----------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT: Path | None = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (cached by browsers for good) and gzip copies, made by collectstatic.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Pages link hashed names only, so the unhashed copies are neither kept nor compressed; source
# maps are for developer tools, which fetch them rarely: they are served as they are. Both
# halve collectstatic's time (most of it brotli on the API docs' bundles).
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = [
    *Compressor.SKIP_COMPRESS_EXTENSIONS,
    "map",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# One JSON object per line on stderr, secrets redacted by a filter on the handler, so no
# logger (Django's, Stripe's, ours) can write one out (core/log_format.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "core.log_format.RedactSecrets"}},
    "formatters": {"json": {"()": "core.log_format.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # runserver's request lines would otherwise go to Django's own handler, past the filter.
    "loggers": {"django.server": {"handlers": ["console"], "propagate": False}},
}
