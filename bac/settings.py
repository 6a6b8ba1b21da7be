"""Settings for Bac e-Services.

Everything comes from environment variables. With none set, the embedded default runs:
SQLite, local-memory cache, Celery tasks run eagerly in-process, files on local disk,
keys generated on first start, SMS and e-mail printed on the console. Setting
DATABASE_URL, REDIS_URL and CELERY_BROKER_URL switches to the production stack.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from .env import (
    ConfigurationError,
    check_broker_url,
    check_redis_url,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
    parse_database_url,
)
from .keyfiles import write_new

BASE_DIR = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = Path(env_str("BAC_SHARED_DATA", str(BASE_DIR.parent / "shared" / "data")))
VAR_DIR = Path(env_str("BAC_VAR_DIR", str(BASE_DIR / "var")))
KEYS_DIR = Path(env_str("BAC_KEYS_DIR", str(VAR_DIR / "keys")))

DEBUG = env_bool("DEBUG", False)


def _key_file(name: str, make) -> str:
    """Read a key generated on first start, creating it (owner-only, atomically: processes
    starting together never read half a key) if absent."""
    path = KEYS_DIR / name
    if not path.exists():
        write_new(path, make().encode())
    return path.read_text().strip()


_secret_file = env_str("SECRET_KEY_FILE")
if env_str("SECRET_KEY"):
    SECRET_KEY = env_str("SECRET_KEY")
elif _secret_file:
    try:
        SECRET_KEY = Path(_secret_file).read_text().strip()
    except OSError as exc:
        raise ConfigurationError("SECRET_KEY_FILE", f"cannot read {_secret_file}: {exc}") from None
elif DEBUG:
    SECRET_KEY = _key_file("secret_key", lambda: secrets.token_urlsafe(50))
else:
    raise ConfigurationError(
        "SECRET_KEY",
        "is required outside debug (set SECRET_KEY or SECRET_KEY_FILE, or DEBUG=true for a local demo)",
    )
if len(SECRET_KEY) < 32:
    raise ConfigurationError("SECRET_KEY", "must be at least 32 characters long")

# Fernet keys for identity documents at rest; the first encrypts, all decrypt (rotation).
if env_str("DOCUMENT_KEYS"):
    DOCUMENT_KEYS = env_list("DOCUMENT_KEYS", [])
else:

    def _fernet_key() -> str:
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode()

    DOCUMENT_KEYS = [_key_file("documents.key", _fernet_key)]

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "audit",
    "exams",
    "identity",
    "candidates",
    "notifications",
    "results",
    "convocations",
    "verification",
    "complaints",
    "scholarships",
    "diplomas",
    "sharing",
    "privacy",
    "ops",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "bac.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bac.urls"
WSGI_APPLICATION = "bac.wsgi.application"
ASGI_APPLICATION = "bac.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite by default, PostgreSQL through DATABASE_URL.
if env_str("DATABASE_URL"):
    DATABASES = {"default": parse_database_url("DATABASE_URL", env_str("DATABASE_URL"))}
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache, sessions and rate limits: Redis through REDIS_URL, local memory otherwise.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    check_redis_url("REDIS_URL", REDIS_URL)
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "bac"),
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Celery: eager in-process without a broker.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
if CELERY_BROKER_URL:
    check_broker_url("CELERY_BROKER_URL", CELERY_BROKER_URL)
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ACKS_LATE = True
CELERY_TIMEZONE = "Africa/Casablanca"

# Files: local disk by default; STORAGE_BACKEND names another Django storage class.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never served directly: documents go through authorised views
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {
        "BACKEND": env_str("STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads.
CNIE_UPLOAD_MAX_BYTES = env_int("CNIE_UPLOAD_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
CNIE_UPLOAD_MAX_PIXELS = env_int("CNIE_UPLOAD_MAX_PIXELS", 40_000_000, minimum=1_000_000)
IMPORT_UPLOAD_MAX_BYTES = env_int("IMPORT_UPLOAD_MAX_BYTES", 150 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# Notifications.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "bac-eservices@localhost")
SMS_BACKEND = env_str("SMS_BACKEND", "notifications.sms.ConsoleSMSBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)

# Authentication.
AUTH_USER_MODEL = "identity.User"
LOGIN_URL = "identity:sign_in"
LOGIN_REDIRECT_URL = "portal:home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
OTP_TTL_SECONDS = env_int("OTP_TTL_SECONDS", 300, minimum=30)
SIGN_IN_MAX_FAILURES_PER_ACCOUNT = env_int("SIGN_IN_MAX_FAILURES_PER_ACCOUNT", 5, minimum=1)
SIGN_IN_MAX_FAILURES_PER_ADDRESS = env_int("SIGN_IN_MAX_FAILURES_PER_ADDRESS", 30, minimum=1)
SIGN_IN_LOCKOUT_SECONDS = env_int("SIGN_IN_LOCKOUT_SECONDS", 900, minimum=1)
# Behind a trusted reverse proxy, the number of proxies whose X-Forwarded-For we believe.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# Internationalisation.
LANGUAGE_CODE = env_choice("LANGUAGE_CODE", "fr", ("ar", "fr", "en"))
LANGUAGES = [("ar", _("Arabic")), ("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Africa/Casablanca"
USE_I18N = True
USE_TZ = True
LANGUAGE_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
LANGUAGE_COOKIE_SAMESITE = "Lax"

# Security.
SECURE_COOKIES = env_bool("SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 4 * 3600, minimum=60)
SESSION_COOKIE_NAME = "__Host-session" if SECURE_COOKIES else "session"
CSRF_COOKIE_NAME = "__Host-csrftoken" if SECURE_COOKIES else "csrftoken"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# The ministry's domain and all its subdomains are HTTPS-only: ready for the browsers' preload
# list (SECURE_HSTS_PRELOAD=false for a deployment under a domain that is not).
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
    },
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Notification outbox (notifications.services.queue_bulk_notifications) ---------------------
# Pushed SMS and e-mail (results published, complaint decided...): sent by Celery tasks at the
# providers' rate, shared by every worker through the cache (Redis in production), retried with
# exponential backoff, never sent twice.
NOTIFICATIONS_SMS_PER_SECOND = env_int("NOTIFICATIONS_SMS_PER_SECOND", 20, minimum=1)
NOTIFICATIONS_EMAIL_PER_SECOND = env_int("NOTIFICATIONS_EMAIL_PER_SECOND", 50, minimum=1)
# Waiting for the providers' rate is pointless when tasks run eagerly in-process (the demo, the
# tests, console sinks): off by default there, on as soon as a broker is configured.
NOTIFICATIONS_THROTTLE = env_bool("NOTIFICATIONS_THROTTLE", not CELERY_TASK_ALWAYS_EAGER)
NOTIFICATIONS_MAX_ATTEMPTS = env_int("NOTIFICATIONS_MAX_ATTEMPTS", 5, minimum=1)
NOTIFICATIONS_RETRY_BACKOFF_SECONDS = env_int("NOTIFICATIONS_RETRY_BACKOFF_SECONDS", 30, minimum=1)
NOTIFICATIONS_RETRY_BACKOFF_MAX_SECONDS = env_int(
    "NOTIFICATIONS_RETRY_BACKOFF_MAX_SECONDS", 3600, minimum=1
)
# Outbox rows per sending task, and the Celery queue those tasks go to (empty: the default
# queue; a dedicated queue keeps a long SMS backlog from holding other background work back).
NOTIFICATIONS_BATCH_SIZE = env_int("NOTIFICATIONS_BATCH_SIZE", 100, minimum=1)
NOTIFICATIONS_QUEUE = env_str("NOTIFICATIONS_QUEUE")
# A row still "sending" after this long lost its worker: it is reported as failed (delivery
# unknown) by `manage.py notifications_sweep`, never sent again.
NOTIFICATIONS_STALE_CLAIM_SECONDS = env_int("NOTIFICATIONS_STALE_CLAIM_SECONDS", 900, minimum=60)
# Absolute address of the site, for the links in messages.
NOTIFICATIONS_SITE_URL = env_str(
    "NOTIFICATIONS_SITE_URL",
    "http://127.0.0.1:8000"
    if DEBUG or not ALLOWED_HOSTS or ALLOWED_HOSTS[0].startswith((".", "*"))
    else f"https://{ALLOWED_HOSTS[0]}",
)
# SMS providers (SMS_BACKEND above): the sender name, the file sink's path, the HTTP gateway.
SMS_SENDER_ID = env_str("SMS_SENDER_ID", "BAC")
SMS_FILE_PATH = env_str("SMS_FILE_PATH", str(VAR_DIR / "sms.jsonl"))
SMS_GATEWAY_URL = env_str("SMS_GATEWAY_URL")
SMS_GATEWAY_TOKEN = env_str("SMS_GATEWAY_TOKEN")
SMS_GATEWAY_TIMEOUT_SECONDS = env_int("SMS_GATEWAY_TIMEOUT_SECONDS", 10, minimum=1)

# --- Results publication, lookup and static export (results.publication, results.snapshot) ------
# The published results are served from the cache (Redis in production), keyed by an HMAC of the
# Massar code (or CNIE number) and the birth date. Changing this key needs
# `manage.py warm_results` to rebuild the cache from the published snapshots.
if env_str("RESULTS_LOOKUP_KEY"):
    RESULTS_LOOKUP_KEY = env_str("RESULTS_LOOKUP_KEY")
else:
    RESULTS_LOOKUP_KEY = _key_file("results_lookup.key", lambda: secrets.token_urlsafe(48))
if len(RESULTS_LOOKUP_KEY) < 32:
    raise ConfigurationError("RESULTS_LOOKUP_KEY", "must be at least 32 characters long")


def _ed25519_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


# Ed25519 private key (PEM) that signs the static export of published results; its public key
# is published at /results/export-key.json.
RESULTS_EXPORT_SIGNING_KEY = env_str("RESULTS_EXPORT_SIGNING_KEY") or _key_file(
    "results_export_ed25519.pem", _ed25519_pem
)
# Diplomas are issued to every admitted candidate with a CNIE as soon as a publication of
# results is public (diplomas.receivers); false: staff start the issuance themselves.
DIPLOMAS_AUTO_ISSUE = env_bool("DIPLOMAS_AUTO_ISSUE", True)
# The diploma PKI (diplomas/pki.py): root certificate, issuing key and certificates. Unset:
# generated on first start under KEYS_DIR/diploma_pki (embedded default). Set: read from that
# directory, never generated. With DIPLOMA_PKCS11_MODULE set, the issuing key stays in a
# PKCS#11 token (module path, token label, key label; PIN from DIPLOMA_PKCS11_PIN).
DIPLOMA_PKI_DIR = env_str("DIPLOMA_PKI_DIR", "").strip()
if DIPLOMA_PKI_DIR and not Path(DIPLOMA_PKI_DIR).is_dir():
    raise ConfigurationError("DIPLOMA_PKI_DIR", f"{DIPLOMA_PKI_DIR} is not a directory")
DIPLOMA_PKCS11_MODULE = env_str("DIPLOMA_PKCS11_MODULE", "").strip()
DIPLOMA_PKCS11_TOKEN = env_str("DIPLOMA_PKCS11_TOKEN", "").strip()
DIPLOMA_PKCS11_KEY_LABEL = env_str("DIPLOMA_PKCS11_KEY_LABEL", "").strip()
DIPLOMA_PKCS11_PIN = env_str("DIPLOMA_PKCS11_PIN", "")
if DIPLOMA_PKCS11_MODULE:
    if not Path(DIPLOMA_PKCS11_MODULE).is_file():
        raise ConfigurationError("DIPLOMA_PKCS11_MODULE", f"{DIPLOMA_PKCS11_MODULE} is not a file")
    for _name in ("DIPLOMA_PKCS11_TOKEN", "DIPLOMA_PKCS11_KEY_LABEL"):
        if not globals()[_name]:
            raise ConfigurationError(_name, "is required with DIPLOMA_PKCS11_MODULE")
    if not DIPLOMA_PKI_DIR:
        raise ConfigurationError("DIPLOMA_PKI_DIR", "is required with DIPLOMA_PKCS11_MODULE")
# Public look-ups (Massar code or CNIE number + birth date): failed attempts per code and
# window, and attempts per client address (or IPv6 /64) and window. Many candidates share an
# address on results day (mobile carriers' NAT, schools), hence a generous address limit.
RESULTS_LOOKUP_FAILURES_PER_CODE = env_int("RESULTS_LOOKUP_FAILURES_PER_CODE", 10, minimum=1)
RESULTS_LOOKUP_CODE_WINDOW_SECONDS = env_int("RESULTS_LOOKUP_CODE_WINDOW_SECONDS", 3600, minimum=1)
RESULTS_LOOKUP_PER_ADDRESS = env_int("RESULTS_LOOKUP_PER_ADDRESS", 300, minimum=1)
RESULTS_LOOKUP_ADDRESS_WINDOW_SECONDS = env_int(
    "RESULTS_LOOKUP_ADDRESS_WINDOW_SECONDS", 600, minimum=1
)
# The pointer to the live publications is rebuilt from the database at least this often.
RESULTS_POINTER_TTL_SECONDS = env_int("RESULTS_POINTER_TTL_SECONDS", 300, minimum=1)
# The host's own replica of the published results (results.replica): each application host
# answers public lookups from a read-only file of the live publications and counts the limits
# in shared memory, with no network round trip per lookup. The limits then hold per host: put
# the hosts behind a load balancer that sends an address to one host (docs/deployment.md), and a
# code may be tried at most (number of hosts) x RESULTS_LOOKUP_FAILURES_PER_CODE times a window.
RESULTS_LOOKUP_REPLICA = env_bool("RESULTS_LOOKUP_REPLICA", False)
RESULTS_REPLICA_DIR = Path(env_str("RESULTS_REPLICA_DIR", str(VAR_DIR / "results-replica")))
# How often a process re-reads the live pointer and the corrections (a correction or a
# withdrawal shows within this delay; the moment of a publication is exact regardless).
RESULTS_REPLICA_REFRESH_MS = env_int("RESULTS_REPLICA_REFRESH_MS", 1000, minimum=0)
# Web processes build a missing replica file themselves, in the background (else only
# `manage.py build_results_replica` does, and lookups read the shared cache meanwhile).
RESULTS_REPLICA_AUTO_BUILD = env_bool("RESULTS_REPLICA_AUTO_BUILD", True)
# Candidates per batch when a publication is prepared (rows written, cache entries set).
RESULTS_PUBLICATION_BATCH = env_int("RESULTS_PUBLICATION_BATCH", 5000, minimum=1)
# The snapshot lives in the default cache: the local-memory cache of the embedded default must
# hold a whole session's results (Django's default culls it at 300 entries).
if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    CACHES["default"].setdefault("OPTIONS", {})["MAX_ENTRIES"] = env_int(
        "LOCMEM_CACHE_MAX_ENTRIES", 2_000_000, minimum=300
    )
# The publication tasks live in results.publication (results.tasks belongs to the computation).
CELERY_IMPORTS = [*globals().get("CELERY_IMPORTS", []), "results.publication"]

# --- Retention of personal data (privacy.register, `manage.py purge_expired`) -----------------
# Celery beat runs the purge every night at 03:17 (CELERY_TIMEZONE); other apps add their own
# entries to this dict.
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "privacy-purge-expired": {
        "task": "privacy.purge_expired",
        "schedule": __import__("celery.schedules").schedules.crontab(hour=3, minute=17),
    },
}
CELERY_IMPORTS = [*CELERY_IMPORTS, "privacy.tasks"]

# --- National digital identity (OpenID Connect) -----------------------------------------------
# Sign-in through the national identity provider (identity/oidc.py): authorization code with
# PKCE. Disabled while OIDC_ISSUER or OIDC_CLIENT_ID is empty; the sign-in page then shows no
# button. OIDC_CNIE_CLAIM names the claim carrying the CNIE number; OIDC_REDIRECT_URI pins the
# callback address registered with the provider (default: built from the request).
OIDC_ISSUER = env_str("OIDC_ISSUER", "").strip().rstrip("/")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID", "").strip()
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", "")
OIDC_SCOPES = env_list("OIDC_SCOPES", ["openid", "profile", "cnie"])
OIDC_CNIE_CLAIM = env_str("OIDC_CNIE_CLAIM", "cnie").strip() or "cnie"
OIDC_TOKEN_AUTH_METHOD = env_choice(
    "OIDC_TOKEN_AUTH_METHOD", "client_secret_basic", ("client_secret_basic", "client_secret_post")
)
OIDC_REDIRECT_URI = env_str("OIDC_REDIRECT_URI", "").strip()
OIDC_USE_USERINFO = env_bool("OIDC_USE_USERINFO", False)
OIDC_LEEWAY_SECONDS = env_int("OIDC_LEEWAY_SECONDS", 60, minimum=0)
OIDC_HTTP_TIMEOUT_SECONDS = env_int("OIDC_HTTP_TIMEOUT_SECONDS", 10, minimum=1)
OIDC_CACHE_SECONDS = env_int("OIDC_CACHE_SECONDS", 3600, minimum=0)

# --- Operations: production stack, observability, resilience (ops/, deploy/, docs/deployment.md)
# Every request carries an X-Request-ID (nginx sets one) into the logs and the Celery tasks it
# queues; a full disk on upload gets a clear page (ops.middleware, ops.storage).
MIDDLEWARE.insert(0, "ops.middleware.RequestIdMiddleware")
MIDDLEWARE.append("ops.middleware.StorageFullMiddleware")
# Logs: one JSON object per line with the request id (LOG_FORMAT=text for humans; the default
# outside debug is json).
LOGGING["filters"] = {"request_id": {"()": "ops.jsonlog.RequestIdFilter"}}
LOGGING["formatters"] = {
    "json": {"()": "ops.jsonlog.JsonFormatter"},
    "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
}
LOGGING["handlers"]["console"].update(
    filters=["request_id"],
    formatter=env_choice("LOG_FORMAT", "text" if DEBUG else "json", ("json", "text")),
)
# /metrics answers loopback, or anyone sending `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Redis down must cost a short timeout, never a hung worker: rate limits then count per process
# (identity.ratelimit) and the results lookup reads the database (results.snapshot).
if REDIS_URL:
    CACHES["default"].setdefault("OPTIONS", {}).update(
        socket_connect_timeout=env_int("REDIS_CONNECT_TIMEOUT_SECONDS", 1, minimum=1),
        socket_timeout=env_int("REDIS_TIMEOUT_SECONDS", 2, minimum=1),
    )
    # Sessions in the database: they survive a Redis outage (sign-in keeps working) and a
    # sign-out can never be undone by a stale cache entry.
    SESSION_ENGINE = env_str("SESSION_ENGINE", "django.contrib.sessions.backends.db")
# Read replicas: DATABASE_REPLICA_URLS=postgres://…,postgres://… (ops.router).
for _index, _url in enumerate(env_list("DATABASE_REPLICA_URLS", [])):
    DATABASES[f"replica_{_index + 1}"] = {
        **parse_database_url("DATABASE_REPLICA_URLS", _url),
        "CONN_MAX_AGE": DATABASES["default"].get("CONN_MAX_AGE", 0),
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": "default"},
    }
if any(alias.startswith("replica_") for alias in DATABASES):
    DATABASE_ROUTERS = ["ops.router.ReplicaRouter"]
    MIDDLEWARE.insert(1, "ops.router.ReplicaPinMiddleware")
# Celery: publishing never hangs a page (a short timeout, then the outbox: ops.celery); a task
# whose worker dies is delivered again (tasks are idempotent); nothing reads task results.
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("CELERY_BROKER_CONNECTION_TIMEOUT", 2, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_DEFAULT_QUEUE", "celery")
# Workers log through LOGGING above (JSON lines with the task's request id), not Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A message not acknowledged within this time goes back to the queue (Redis broker; RabbitMQ
# redelivers as soon as the worker's connection drops). Longer than the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=10)
}
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE.update(
    {
        # Publications are pushed at their moment even if the eta queued at preparation was lost.
        "results.notify_due_publications": {
            "task": "ops.notify_due_publications",
            "schedule": 60.0,
        },
        # Tasks kept while the broker was down are sent once it is back.
        "ops.flush_outbox": {"task": "ops.flush_outbox", "schedule": 30.0},
        # Sessions are in the database in production: expired ones are dropped hourly.
        "ops.clear_expired_sessions": {"task": "ops.clear_expired_sessions", "schedule": 3600.0},
    }
)
