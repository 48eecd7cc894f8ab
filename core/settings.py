"""One settings module, configured by the environment (12-factor).

Local default needs no services: SQLite, local-memory cache, the django-q2 ORM
broker, console email, the sandbox gateway and the sandbox platform driver.
Set ``DJANGO_ENV=production`` and the documented variables (README) for production.
"""

import sys
from pathlib import Path

import environ
from django.urls import reverse_lazy

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

# development | test | production; a pytest process is a test run unless told otherwise.
DJANGO_ENV = env.str("DJANGO_ENV", default="test" if "pytest" in sys.modules else "development")
IS_PRODUCTION = DJANGO_ENV == "production"

_DEV_SECRET = "dev-insecure-0b1c2d3e4f-not-for-production-use-ever-9a8b7c6d5e4f"
SECRET_KEY = env.str("SECRET_KEY") if IS_PRODUCTION else env.str("SECRET_KEY", default=_DEV_SECRET)
DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS") if IS_PRODUCTION else env.list("ALLOWED_HOSTS", default=["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Fernet keys for encrypted fields: the first encrypts, every key decrypts (rotation).
# Generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
_DEV_FERNET_KEY = "ZGV2LW9ubHktZmVybmV0LWtleS1ub3QtZm9yLXByb2Q="
FIELD_ENCRYPTION_KEYS = (
    env.list("FIELD_ENCRYPTION_KEYS") if IS_PRODUCTION else env.list("FIELD_ENCRYPTION_KEYS", default=[_DEV_FERNET_KEY])
)

INSTALLED_APPS = [
    "unfold.apps.BasicAppConfig",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.inlines",
    "unfold.contrib.import_export",
    "unfold.contrib.simple_history",
    "unfold.contrib.hijack",
    "core.apps.OTPAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_totp",
    "django_otp_webauthn",
    "two_factor",
    "axes",
    "hijack",
    # Not "hijack.contrib.admin": its one-click button on the user list would skip the typed reason
    # (impersonation starts from the customer page: backoffice/impersonation.py).
    "import_export",
    "simple_history",
    "django_q",
    "anymail",
    "core.accounts",
    "core.catalog",
    "core.billing",
    "core.provisioning",
    "core.usage",
    "core.support",
    "core.audit",
    "core.notifications",
    "core.analytics",
    "core.imports",
    "backoffice",
    "portal",
    "portal.api",
]

# "…ExceptApi": the same middleware, skipped for /api/ requests (bearer tokens, JSON; portal/middleware.py).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.SessionExceptApi",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "portal.middleware.AuthenticationExceptApi",
    "portal.middleware.OTPExceptApi",
    "portal.middleware.PortalTwoFactorMiddleware",
    "portal.middleware.MessagesExceptApi",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.HijackExceptApi",
    "simple_history.middleware.HistoryRequestMiddleware",
    "core.audit.middleware.AuditContextMiddleware",
    "backoffice.cloudflare_access.CloudflareAccessMiddleware",  # off unless CF_ACCESS_* are set
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "core.urls"
WSGI_APPLICATION = "core.wsgi.application"
ASGI_APPLICATION = "core.asgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# SQLite file by default; DATABASE_URL=mysql://user:pw@host:3306/name selects MySQL/MariaDB.
# Tests use TEST_DATABASE_URL when it is set (CI runs the suite on SQLite and on MariaDB).
_DB_URL_VAR = (
    "TEST_DATABASE_URL" if DJANGO_ENV == "test" and env.str("TEST_DATABASE_URL", default="") else "DATABASE_URL"
)
# Production must say where its database is; a silent SQLite fallback would lose data.
DATABASES = {
    "default": env.db(_DB_URL_VAR)
    if IS_PRODUCTION
    else env.db(_DB_URL_VAR, default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "charset": "utf8mb4",
            "init_command": (
                "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO'"
            ),
            # Lock-based sequences want READ COMMITTED (no gap locks, fewer deadlocks).
            "isolation_level": "read committed",
        }
    )
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("TEST_DATABASE_NAME", default=f"test_{DATABASES['default']['NAME']}"),
        "CHARSET": "utf8mb4",
        "COLLATION": "utf8mb4_unicode_ci",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: the demo's web process and worker write at once; deferred transactions that
    # upgrade to a write lock fail with "database is locked" instead of waiting for `timeout`.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and queue --------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            # Parallel test workers (pytest-xdist) share one Redis database: keep their keys apart.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="bo") + env.str("PYTEST_XDIST_WORKER", default=""),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

Q_CLUSTER = {
    "name": "backoffice",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=300),
    "retry": env.int("Q_RETRY", default=360),  # must exceed timeout
    "max_attempts": env.int("Q_MAX_ATTEMPTS", default=5),
    "catch_up": False,
    "ack_failures": True,
    # Tests run tasks inline (django_q.conf.Conf reads this once, at import).
    "sync": env.bool("Q_SYNC", default=DJANGO_ENV == "test"),
    "poll": 1,
}
if REDIS_URL:
    Q_CLUSTER["django_redis"] = "default"
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "django_otp_webauthn.backends.WebAuthnBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "two_factor:login"
LOGIN_REDIRECT_URL = "admin:index"
PORTAL_LOGIN_URL = "portal:login"

# The admin lives at a configurable path (default "admin/").
ADMIN_PATH = env.str("ADMIN_PATH", default="admin/").strip("/") + "/"

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Django's AuthenticationForm calls authenticate(username=...) even when USERNAME_FIELD is "email";
# axes defaults this to USERNAME_FIELD, would read None and never lock an account out.
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
# Portal logins that hit the limit see the login page with a clear message; other paths keep axes' default.
AXES_LOCKOUT_CALLABLE = "portal.views.login_locked_out"
# Imported WHMCS logins are verified by core.accounts.hashers and re-hashed with the first (default) hasher.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "core.accounts.hashers.WhmcsBcryptPasswordHasher",
    "core.accounts.hashers.WhmcsMD5PasswordHasher",
    "core.accounts.hashers.WhmcsHMACPasswordHasher",
]
if DJANGO_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS[-3:]]

OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="EZSCALE Backoffice")
OTP_WEBAUTHN_RP_ID = env.str("OTP_WEBAUTHN_RP_ID", default="localhost")
OTP_WEBAUTHN_RP_NAME = env.str("OTP_WEBAUTHN_RP_NAME", default="EZSCALE Backoffice")
OTP_WEBAUTHN_ALLOWED_ORIGINS = env.list("OTP_WEBAUTHN_ALLOWED_ORIGINS", default=["http://localhost:8000"])
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
TWO_FACTOR_REMEMBER_COOKIE_AGE = None

HIJACK_PERMISSION_CHECK = "core.accounts.permissions.can_impersonate"
HIJACK_INSERT_BEFORE = None
# Staff roles (core/accounts/roles.py): the Billing role refunds up to this amount in DEFAULT_CURRENCY.
STAFF_REFUND_LIMIT = env.str("STAFF_REFUND_LIMIT", default="250.00")
# Optional Cloudflare Access in front of the admin (backoffice/cloudflare_access.py): both set = enforced.
CF_ACCESS_TEAM_DOMAIN = env.str("CF_ACCESS_TEAM_DOMAIN", default="")  # e.g. ezscale.cloudflareaccess.com
CF_ACCESS_AUDIENCE = env.str("CF_ACCESS_AUDIENCE", default="")  # the application's AUD tag

# --- i18n / static ------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email ---------------------------------------------------------------------
EMAIL_PROVIDER = env.str("EMAIL_PROVIDER", default="console")  # console | mailgun | sendgrid
EMAIL_BACKEND = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "mailgun": "anymail.backends.mailgun.EmailBackend",
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}[EMAIL_PROVIDER]
_ANYMAIL = {
    "MAILGUN_API_KEY": env.str("MAILGUN_API_KEY", default=""),
    "MAILGUN_SENDER_DOMAIN": env.str("MAILGUN_SENDER_DOMAIN", default=""),
    "MAILGUN_API_URL": env.str("MAILGUN_API_URL", default="https://api.mailgun.net/v3"),
    # Current Mailgun accounts sign webhooks with a key separate from the API key.
    "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
    "SENDGRID_API_KEY": env.str("SENDGRID_API_KEY", default=""),
    # Public key of SendGrid's signed event webhook (base64, no PEM header).
    "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY": env.str("SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY", default=""),
    "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default=""),
}
# Unset keys stay out: anymail would otherwise verify webhook signatures against an empty
# HMAC key (which anyone can forge) instead of refusing to start the webhook view.
ANYMAIL = {name: value for name, value in _ANYMAIL.items() if value}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="EZSCALE Hosting <billing@ezscale.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

DISCORD_WEBHOOK_URL = env.str("DISCORD_WEBHOOK_URL", default="")
# One webhook per staff channel; an unset channel falls back to DISCORD_WEBHOOK_URL.
DISCORD_WEBHOOKS = {
    "billing": env.str("DISCORD_WEBHOOK_BILLING", default=""),
    "provisioning": env.str("DISCORD_WEBHOOK_PROVISIONING", default=""),
    "security": env.str("DISCORD_WEBHOOK_SECURITY", default=""),
}
# Outbox delivery: attempts, then exponential backoff from RETRY_BASE_SECONDS up to RETRY_MAX_SECONDS.
NOTIFICATIONS = {
    "MAX_ATTEMPTS": env.int("NOTIFICATION_MAX_ATTEMPTS", default=5),
    "RETRY_BASE_SECONDS": env.int("NOTIFICATION_RETRY_BASE_SECONDS", default=60),
    "RETRY_MAX_SECONDS": env.int("NOTIFICATION_RETRY_MAX_SECONDS", default=3600),
    "CLAIM_SECONDS": 600,
}
# SupportPal (core.support finds the client by name; "sandbox" for the local demo, "" = not configured).
SUPPORT_BACKEND = env.str("SUPPORT_BACKEND", default="sandbox" if DEBUG else "")
SUPPORT_BACKEND_CLASSES = {
    "supportpal": "integrations.supportpal.backend.SupportPalBackend",
    "sandbox": "integrations.supportpal.sandbox.SandboxSupportBackend",
}
SUPPORTPAL = {
    "BASE_URL": env.str("SUPPORTPAL_BASE_URL", default=""),  # https://help.example.com (the client adds /api/)
    "API_TOKEN": env.str("SUPPORTPAL_API_TOKEN", default=""),
    "BRAND_ID": env.int("SUPPORTPAL_BRAND_ID", default=1),
    "SERVICE_CUSTOM_FIELD_ID": env.str("SUPPORTPAL_SERVICE_FIELD_ID", default=""),
    "SIMPLEAUTH_KEY": env.str("SUPPORTPAL_SIMPLEAUTH_KEY", default=""),
    "TIMEOUT": env.float("SUPPORTPAL_TIMEOUT", default=15.0),
    # HMAC secret of the ticket-event plugin posting to /support/events/ (empty: events refused).
    "WEBHOOK_SECRET": env.str("SUPPORTPAL_WEBHOOK_SECRET", default=""),
}
# core finds the chat client by name (core never imports integrations directly).
CHAT_CLIENT_CLASS = "integrations.discord.client.DiscordWebhookClient"

# --- Business settings ----------------------------------------------------------
COMPANY = {
    "name": env.str("COMPANY_NAME", default="EZSCALE Hosting"),
    "address": env.str("COMPANY_ADDRESS", default="123 Example Street\nWilmington, DE 19801\nUnited States"),
    "country": env.str("COMPANY_COUNTRY", default="US"),
    "vat_id": env.str("COMPANY_VAT_ID", default=""),
    "email": env.str("COMPANY_EMAIL", default="billing@ezscale.localhost"),
    "website": env.str("COMPANY_WEBSITE", default="https://ezscale.localhost"),
}
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="USD")
BILLING = {
    "INVOICE_NUMBER_FORMAT": env.str("INVOICE_NUMBER_FORMAT", default="INV-{year}-{seq:06d}"),
    "CREDIT_NOTE_NUMBER_FORMAT": env.str("CREDIT_NOTE_NUMBER_FORMAT", default="CN-{year}-{seq:06d}"),
    "NUMBER_SERIES_PER_YEAR": env.bool("NUMBER_SERIES_PER_YEAR", default=True),
    "RENEWAL_DAYS_BEFORE": env.int("RENEWAL_DAYS_BEFORE", default=7),
    "PAYMENT_TERMS_DAYS": env.int("PAYMENT_TERMS_DAYS", default=7),
    "DUNNING_RETRY_DAYS": env.list("DUNNING_RETRY_DAYS", cast=int, default=[1, 3, 5]),
    "DOWNGRADE_GIVES_CREDIT": env.bool("DOWNGRADE_GIVES_CREDIT", default=True),
    "BLAST_RADIUS_MAX_COUNT": env.int("BLAST_RADIUS_MAX_COUNT", default=25),
    "BLAST_RADIUS_MAX_SHARE": env.float("BLAST_RADIUS_MAX_SHARE", default=0.10),
    "BLAST_RADIUS_MIN_COUNT": env.int("BLAST_RADIUS_MIN_COUNT", default=10),
    "HIGH_VALUE_ORDER_THRESHOLD": env.str("HIGH_VALUE_ORDER_THRESHOLD", default="500.00"),
    "REMINDER_DAYS_BEFORE_DUE": env.int("REMINDER_DAYS_BEFORE_DUE", default=3),
    "OVERDUE_NOTICE_DAYS": env.list("OVERDUE_NOTICE_DAYS", cast=int, default=[1, 7, 14]),
    # WHMCS cutover (ISO date/datetime, UTC): until then WHMCS bills imported subscriptions and sends
    # reminders for imported invoices; our billing run leaves them alone (core/billing/services/imported.py).
    "IMPORTED_BILLING_FROM": env.str("IMPORTED_BILLING_FROM", default=""),
}

# Provisioning (core/provisioning/conf.py holds the same defaults and reads these at call time).
PROVISIONING = {
    "MAX_ATTEMPTS": env.int("PROVISIONING_MAX_ATTEMPTS", default=5),
    "RETRY_BASE_SECONDS": env.int("PROVISIONING_RETRY_BASE_SECONDS", default=30),
    "RETRY_MAX_SECONDS": env.int("PROVISIONING_RETRY_MAX_SECONDS", default=3600),
    "POLL_INTERVAL_SECONDS": env.int("PROVISIONING_POLL_INTERVAL_SECONDS", default=15),
    "BUILD_TIMEOUT_SECONDS": env.int("PROVISIONING_BUILD_TIMEOUT_SECONDS", default=3 * 3600),
    "STALE_JOB_SECONDS": env.int("PROVISIONING_STALE_JOB_SECONDS", default=900),
    "CAPACITY_UNVERIFIED": env.str("PROVISIONING_CAPACITY_UNVERIFIED", default="refuse"),  # refuse | accept
    "DEDICATED_BACKORDER": env.bool("PROVISIONING_DEDICATED_BACKORDER", default=True),
    "REAUTH_MINUTES": env.int("PROVISIONING_REAUTH_MINUTES", default=5),
    "USAGE_CACHE_SECONDS": env.int("PROVISIONING_USAGE_CACHE_SECONDS", default=60),
}

# Bandwidth metering (core/usage/conf.py holds the defaults and what each key means).
FLOW_SOURCE_CLASS = env.str(
    "FLOW_SOURCE_CLASS",
    default="integrations.elastiflow.client.ElastiFlowSource"
    if IS_PRODUCTION
    else "core.usage.sandbox.SandboxFlowSource",
)
USAGE = {
    "REREAD_WINDOWS": env.int("USAGE_REREAD_WINDOWS", default=3),
    "WINDOW_DELAY_MINUTES": env.int("USAGE_WINDOW_DELAY_MINUTES", default=10),
    "OWN_PREFIXES": env.list("USAGE_OWN_PREFIXES", default=[]),
    "EXCLUDE_OWN_TRAFFIC": env.bool("USAGE_EXCLUDE_OWN_TRAFFIC", default=True),
    "PLATFORM_DIVERGENCE_SHARE": env.str("USAGE_PLATFORM_DIVERGENCE_SHARE", default="0.10"),
}
ELASTIFLOW = {
    "HOSTS": env.list("ELASTIFLOW_HOSTS", default=["https://127.0.0.1:9200"]),
    "SCHEMA": env.str("ELASTIFLOW_SCHEMA", default="codex"),  # codex | ecs
    "INDEX_PATTERN": env.str("ELASTIFLOW_INDEX_PATTERN", default=""),  # empty: elastiflow-flow-<schema>-*
    "API_KEY": env.str("ELASTIFLOW_API_KEY", default=""),
    "USERNAME": env.str("ELASTIFLOW_USERNAME", default=""),
    "PASSWORD": env.str("ELASTIFLOW_PASSWORD", default=""),
    "CA_CERTS": env.str("ELASTIFLOW_CA_CERTS", default=""),
    "VERIFY_CERTS": env.bool("ELASTIFLOW_VERIFY_CERTS", default=True),
    "EXPORTERS": env.list("ELASTIFLOW_EXPORTERS", default=[]),
    "TIMEOUT_SECONDS": env.int("ELASTIFLOW_TIMEOUT_SECONDS", default=60),
}

# Gateways and platform drivers are found through registries keyed by name;
# core never imports integrations directly.
PAYMENT_GATEWAYS = env.list("PAYMENT_GATEWAYS", default=["sandbox", "manual"])
PAYMENT_GATEWAY_CLASSES = {
    "sandbox": "integrations.payments.sandbox.gateway.SandboxGateway",
    "manual": "integrations.payments.manual.gateway.ManualGateway",
    "stripe": "integrations.payments.stripe.gateway.StripeGateway",
    "paypal": "integrations.payments.paypal.gateway.PayPalGateway",
}
PROVISIONING_DRIVER_CLASSES = {
    "sandbox": "integrations.platforms.sandbox.driver.SandboxDriver",
    "virtfusion": "integrations.platforms.virtfusion.driver.VirtFusionDriver",
    "pterodactyl": "integrations.platforms.pterodactyl.driver.PterodactylDriver",
    "synergycp": "integrations.platforms.synergycp.driver.SynergyCPDriver",
    "enhance": "integrations.platforms.enhance.driver.EnhanceDriver",
}
# Non-production settings can never call a real platform or gateway unless this is set
# explicitly (used only by people testing against a staging panel).
ALLOW_REAL_EXTERNAL_CALLS = IS_PRODUCTION or env.bool("ALLOW_REAL_EXTERNAL_CALLS", default=False)

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
PAYPAL_CLIENT_ID = env.str("PAYPAL_CLIENT_ID", default="")
PAYPAL_CLIENT_SECRET = env.str("PAYPAL_CLIENT_SECRET", default="")
PAYPAL_WEBHOOK_ID = env.str("PAYPAL_WEBHOOK_ID", default="")
PAYPAL_MODE = env.str("PAYPAL_MODE", default="sandbox")  # sandbox | live
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
PAYMENT_GATEWAY_TIMEOUT = env.float("PAYMENT_GATEWAY_TIMEOUT", default=30.0)
# Signs sandbox-gateway webhooks (local demo only; no real money behind it).
SANDBOX_WEBHOOK_SECRET = env.str("SANDBOX_WEBHOOK_SECRET", default="" if IS_PRODUCTION else "sandbox-dev-secret")

# --- Unfold -----------------------------------------------------------------------
UNFOLD = {
    "SITE_TITLE": "EZSCALE Backoffice",
    "SITE_HEADER": "EZSCALE",
    "SITE_SUBHEADER": "Back office",
    "SITE_SYMBOL": "dns",
    "SITE_URL": "/",
    "ENVIRONMENT": "backoffice.unfold.environment_callback",
    "DASHBOARD_CALLBACK": "backoffice.dashboard.dashboard_callback",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": "backoffice.unfold.sidebar_navigation",
    },
}

# --- Logging -------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "core.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Third-party loggers that print URLs or task arguments also redact at the logger, so no
    # handler (including ones added later) ever sees the secret. django-q2 logs as "django-q".
    "loggers": {
        "httpx": {"level": "WARNING", "filters": ["redact"]},
        "httpcore": {"level": "WARNING", "filters": ["redact"]},
        "django-q": {"level": "WARNING", "filters": ["redact"]},
        # WeasyPrint logs every layout step at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- Production hardening (passes `manage.py check --deploy`) -------------------------
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Referenced by the admin site setup (django.urls is imported lazily elsewhere).
ADMIN_INDEX_URL = reverse_lazy("admin:index")

# --- REST API (/api/v1/, portal/api) ---------------------------------------------------
# Requests per token (cache-based: shared across workers only with Redis), e.g. "600/m", "20/s".
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="600/m")
# How long an Idempotency-Key's stored answer is replayed before the key may be used again.
API_IDEMPOTENCY_HOURS = env.int("API_IDEMPOTENCY_HOURS", default=24)
