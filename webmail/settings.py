"""Django settings: everything comes from the environment (see docs/operations.md).

The defaults are the embedded set-up of ``make run``: SQLite, the built-in development mail
server on loopback, Redis on localhost. Bad values stop the process with a clear message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext

from webmail.env import (
    ConfigError,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
)

# Generic admin/queryset classes subscriptable at run time, as the type hints write them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("WEBMAIL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# The development key only works with DEBUG on; production must set SECRET_KEY.
SECRET_KEY = env_secret("SECRET_KEY", "dev-insecure-key-change-me" if DEBUG else None)
if not DEBUG and SECRET_KEY.startswith("dev-insecure"):
    raise ConfigError("SECRET_KEY must be set to a real secret when DEBUG is off")
# Old keys stay readable (sessions, encrypted credentials) during a rotation.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The admin with the webmail's site (sign-in through /login/, the delivery console).
    "accounts.admin_site.WebmailAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    # Two-factor sign-in: TOTP devices and (hashed) recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "accounts",
    "webmail.mail",
    "webmail.compose",
    "webmail.outbox",
    "webmail.devserver",
]

MIDDLEWARE = [
    "webmail.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "webmail.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserPreferencesMiddleware",
    "accounts.middleware.TwoFactorEnrolmentMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "webmail.middleware.MailErrorMiddleware",
]

ROOT_URLCONF = "webmail.urls"
WSGI_APPLICATION = "webmail.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'webmail.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite as the embedded default: WAL and a busy timeout so web and worker can share it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.ImapBackend"]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# Without REDIS_URL the app runs embedded (make run): a file cache and Kombu's filesystem
# broker under VAR_DIR, so one machine with only Python needs no other service.
REDIS_URL = env_str("REDIS_URL", "")
CACHE_URL = env_str("CACHE_URL", REDIS_URL or "file://")
CACHES: dict[str, dict[str, Any]]
if CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
elif CACHE_URL == "file://":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "TIMEOUT": 3600,
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }
elif not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ConfigError(f"CACHE_URL={CACHE_URL!r} must be redis://..., file:// or locmem://")
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "webmail"),
            "TIMEOUT": 3600,
        }
    }

SESSION_ENGINE = env_choice(
    "SESSION_ENGINE",
    "django.contrib.sessions.backends.db",
    ["django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cache",
     "django.contrib.sessions.backends.cached_db"],
)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600, minimum=300)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
# Opt-in: only when every subdomain is HTTPS-only too / the domain goes on the preload list.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- mail servers: the default profile (per-domain profiles in the admin override it) ---
_SECURITY = ["none", "starttls", "ssl"]
WEBMAIL_IMAP_HOST = env_str("WEBMAIL_IMAP_HOST", "127.0.0.1")
WEBMAIL_IMAP_PORT = env_int("WEBMAIL_IMAP_PORT", 1143, minimum=1, maximum=65535)
WEBMAIL_IMAP_SECURITY = env_choice("WEBMAIL_IMAP_SECURITY", "none", _SECURITY)
WEBMAIL_IMAP_TIMEOUT = env_float("WEBMAIL_IMAP_TIMEOUT", 15.0, minimum=0.1)
WEBMAIL_SMTP_HOST = env_str("WEBMAIL_SMTP_HOST", "127.0.0.1")
WEBMAIL_SMTP_PORT = env_int("WEBMAIL_SMTP_PORT", 1025, minimum=1, maximum=65535)
WEBMAIL_SMTP_SECURITY = env_choice("WEBMAIL_SMTP_SECURITY", "none", _SECURITY)
WEBMAIL_SMTP_AUTH = env_choice("WEBMAIL_SMTP_AUTH", "none", ["user", "none"])
WEBMAIL_SMTP_TIMEOUT = env_float("WEBMAIL_SMTP_TIMEOUT", 30.0, minimum=0.1)
WEBMAIL_TLS_VERIFY = env_bool("WEBMAIL_TLS_VERIFY", True)
# IMAP connections kept per user and how long an idle one lives (connection reuse).
WEBMAIL_IMAP_POOL_PER_USER = env_int("WEBMAIL_IMAP_POOL_PER_USER", 2, minimum=1, maximum=20)
WEBMAIL_IMAP_POOL_IDLE = env_int("WEBMAIL_IMAP_POOL_IDLE", 240, minimum=5)
# What each web process keeps of what it read last from the cache (webmail.localcache), in MB:
# folder orders (400 KB per 100,000 messages) and sanitized bodies. 0 turns one off.
WEBMAIL_LOCAL_INDEX_CACHE_MB = env_int("WEBMAIL_LOCAL_INDEX_CACHE_MB", 32, minimum=0)
WEBMAIL_LOCAL_BODY_CACHE_MB = env_int("WEBMAIL_LOCAL_BODY_CACHE_MB", 32, minimum=0)

WEBMAIL_PAGE_SIZE = env_int("WEBMAIL_PAGE_SIZE", 50, minimum=10, maximum=500)
WEBMAIL_COMPOSE_AUTOSAVE_SECONDS = env_int("WEBMAIL_COMPOSE_AUTOSAVE_SECONDS", 20, minimum=5)
# Sending limits (defaults; per-user and per-domain limits in the admin are stricter or equal).
# 0 = no hourly limit.
WEBMAIL_SEND_MAX_PER_HOUR = env_int("WEBMAIL_SEND_MAX_PER_HOUR", 0, minimum=0) or None
WEBMAIL_MAX_RECIPIENTS = env_int("WEBMAIL_MAX_RECIPIENTS", 100, minimum=1)
WEBMAIL_TOTP_ISSUER = env_str("WEBMAIL_TOTP_ISSUER", "Webmail")
WEBMAIL_MAX_MESSAGE_BYTES = env_int("WEBMAIL_MAX_MESSAGE_BYTES", 25 * 1024 * 1024, minimum=1024)
# Sign-in throttling: failures allowed per window, per address and per client IP.
WEBMAIL_LOGIN_MAX_FAILURES = env_int("WEBMAIL_LOGIN_MAX_FAILURES", 5, minimum=1)
WEBMAIL_LOGIN_IP_MAX_FAILURES = env_int("WEBMAIL_LOGIN_IP_MAX_FAILURES", 20, minimum=1)
# How many reverse proxies in front append to X-Forwarded-For (0: use REMOTE_ADDR as it is).
WEBMAIL_TRUSTED_PROXIES = env_int("WEBMAIL_TRUSTED_PROXIES", 0, minimum=0)
WEBMAIL_LOGIN_WINDOW = env_int("WEBMAIL_LOGIN_WINDOW", 900, minimum=10)

# --- delivery (the outbox) ---
WEBMAIL_SEND_MAX_AGE = env_int("WEBMAIL_SEND_MAX_AGE", 5 * 24 * 3600, minimum=60)
WEBMAIL_SEND_RETRY_BASE = env_int("WEBMAIL_SEND_RETRY_BASE", 60, minimum=1)
WEBMAIL_SEND_RETRY_MAX = env_int("WEBMAIL_SEND_RETRY_MAX", 3600, minimum=1)
WEBMAIL_SEND_CLAIM_TIMEOUT = env_int("WEBMAIL_SEND_CLAIM_TIMEOUT", 600, minimum=30)
WEBMAIL_OUTBOX_RETENTION_DAYS = env_int("WEBMAIL_OUTBOX_RETENTION_DAYS", 90, minimum=1)
# Optional VERP bounce address, e.g. "bounces@example.test" (see docs/operations.md).
WEBMAIL_BOUNCE_ADDRESS = env_str("WEBMAIL_BOUNCE_ADDRESS", "")
# The bounce mailbox's IMAP password (the worker polls it); only read when the address is set.
WEBMAIL_BOUNCE_PASSWORD = env_secret("WEBMAIL_BOUNCE_PASSWORD", "")

# --- Celery ---
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Above the longest countdown a retry uses, so a delayed task is not redelivered early.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": WEBMAIL_SEND_RETRY_MAX * 2 + 600
}
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
# Keep a worker's database connection across tasks (Celery closes it after each task by
# default); health checks replace a broken one.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 100, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "webmail")
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "webmail.outbox.tasks.outbox_sweep_task", "schedule": 30.0},
    "bounce-mailbox-poll": {
        "task": "webmail.outbox.tasks.bounce_mailbox_poll_task", "schedule": 60.0,
    },
    "compose-uploads-cleanup": {
        "task": "webmail.compose.tasks.compose_uploads_cleanup_task", "schedule": 3600.0,
    },
}

# JSON lines (one object per line, with the request id) in production; plain text with DEBUG.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", ["json", "plain"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"()": "webmail.observability.PlainFormatter"},
        "json": {"()": "webmail.observability.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Celery workers log through the same handlers (JSON lines) instead of replacing them.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- error reporting: Sentry only when SENTRY_DSN is set (no personal data, no bodies) ---
SENTRY_DSN = env_secret("SENTRY_DSN", "")
if SENTRY_DSN:
    from webmail.observability import init_sentry

    init_sentry(
        SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
        release=env_str("SENTRY_RELEASE", "") or None,
    )
