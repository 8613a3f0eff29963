"""Stemma settings. Production differs from development only by environment variables (README)."""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.client_ip import trusted_proxy_networks
from config.env import env_bool, env_float, env_int, env_list, env_path, env_str
from config.storage import storages_from_env
from fingerprinting.beat import BEAT_SCHEDULE as FINGERPRINTING_BEAT_SCHEDULE
from partner_api.beat import PARTNER_API_BEAT_SCHEDULE
from royalties.beat import ROYALTIES_BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("STEMMA_VAR_DIR", BASE_DIR / "var")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-secret-key-never-use-in-production"  # noqa: S105
# Keys that encrypt stored secrets (webhook signing secrets), newest first: config/encryption.py.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be set when DEBUG is off (a Fernet key: "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    # Development only: a key derived from the development SECRET_KEY, stable across restarts.
    FIELD_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(
            hashlib.sha256(f"stemma-field-encryption:{SECRET_KEY}".encode()).digest()
        ).decode()
    ]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "axes",
    "ledger",
    "catalog",
    "fingerprinting",
    "royalties",
    "partner_api",
    "demo",  # make demo's catalog, clips and month; production apps never import it
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "config.observability.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "config.middleware.RejectUnstorableTextMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "catalog.tenancy.CurrentLabelMiddleware",
    # Last but one, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "catalog.tenancy.current_label_context",
            ],
        },
    },
]

# SQLite under var/ by default so that a newcomer's first command works anywhere.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'stemma.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE: a writer takes the lock when its transaction starts, so two concurrent writers wait for
    # each other instead of one failing with "database is locked" half-way.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 30, "transaction_mode": "IMMEDIATE"})
    # Tests use an in-memory database (Django's default for SQLite), said explicitly: pytest-django
    # recognises SQLite by the ENGINE name, which the metrics backend below changes.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", ":memory:")
DATABASE_IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
# Database metrics (statements, their duration, errors, new connections: django_db_*) come from
# django-prometheus' backends, which are Django's own with each cursor counted (config/metrics.py).
DATABASES["default"]["ENGINE"] = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sign-in throttling for every login form (ours and /admin/login/): django-axes counts failures per
# (username, client address), so an attacker can lock a username out only from their own address and
# never lock its owner out everywhere; the lock lifts after the cool-off, and a success resets it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
# Proxies in front of the web process whose X-Forwarded-For is believed (addresses or CIDR ranges):
# config/client_ip.py. Empty: REMOTE_ADDR is the client.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
TRUSTED_PROXY_NETWORKS = trusted_proxy_networks(TRUSTED_PROXIES, setting="TRUSTED_PROXIES")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "royalties:dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- HTTPS and browser hardening. Production (DEBUG off) defaults to HTTPS only; behind a proxy that
# terminates TLS, SECURE_PROXY_SSL_HEADER names the header it sets (README "Production behind a proxy").
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER", "")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Probes and Prometheus talk to the process directly over the internal network, without TLS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Preloading is a promise made for a whole domain to the browsers' HSTS list: the operator opts in with
# SECURE_HSTS_PRELOAD=1 once every subdomain serves HTTPS, so Django's reminder about it is silenced.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Content-Security-Policy on every answer (django-csp). No inline script anywhere: page scripts are
# static files. Inline *styles* stay allowed: templates size bars with style="width: ..%", and Swagger
# UI, Redoc and htmx inject style elements; styles cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "media-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],  # Redoc parses the schema in a blob worker
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("STATIC_ROOT", VAR_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env_path("MEDIA_ROOT", VAR_DIR / "media")
# Stored files (audio, uploads, index versions) go through the storage API: the filesystem under
# MEDIA_ROOT by default, an S3-compatible store with STORAGE_BACKEND=s3 (config/storage.py).
STORAGES = storages_from_env()
# Each worker's local copies of index versions, keyed by version id (fingerprinting/index.py).
INDEX_CACHE_DIR = env_path("INDEX_CACHE_DIR", VAR_DIR / "index-cache")
# Index shards (fingerprinting/engine/shards.py, docs/scaling.md): a label's index version is written as
# INDEX_SHARD_COUNT shards by recording id once it holds more than INDEX_SHARD_ABOVE_SEGMENTS segments.
# 4,000,000 segments are about 3.4 GiB of vectors (855 MiB per million, measured): the largest index an
# 8 GiB worker host maps whole with the previous version beside it during a swap. Four shards of such
# an index are about 1M segments each, the size bench/attribution_speed.py measures per shard worker.
INDEX_SHARD_ABOVE_SEGMENTS = env_int("INDEX_SHARD_ABOVE_SEGMENTS", 4_000_000, minimum=0)
INDEX_SHARD_COUNT = env_int("INDEX_SHARD_COUNT", 4, minimum=1)
# Off: an attribution worker maps every shard of a sharded version and fans out in process (one host's
# page cache holds them). On: it maps none and asks each shard's Celery queue, attribution-shard-<k>,
# served by that shard's own worker pool (deploy/: worker-shard), for indexes past one host's memory.
INDEX_SHARD_QUEUES = env_bool("INDEX_SHARD_QUEUES", False)
# The engine's composition lane (fingerprinting.engine.composition: re-performed works, shares with the
# `composition` right). Off by default: not yet shown to meet issue 12's false-share gate
# (docs/attribution.md). Indexing and attribution must agree: re-index after switching it on, so the
# index's calibration models the lane.
ENGINE_COMPOSITION_LANE = env_bool("ENGINE_COMPOSITION_LANE", False)
# How long a clip's fan-out waits for a shard's answer before the clip's task fails and is retried: a
# shard answers in milliseconds (bench/attribution_speed.py --shards); 30 s is a lost worker.
INDEX_SHARD_TIMEOUT_SECONDS = env_int("INDEX_SHARD_TIMEOUT_SECONDS", 30, minimum=1)
for _folder in (VAR_DIR, STATIC_ROOT, MEDIA_ROOT, INDEX_CACHE_DIR):
    _folder.mkdir(parents=True, exist_ok=True)

# Upload limits: audio clips and catalog files are large, request bodies otherwise small.
MAX_AUDIO_UPLOAD_BYTES = env_int("MAX_AUDIO_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1024)
# A training manifest's download URLs live this long: an hour fetches a page of 200 recordings over a
# slow link, and a leaked or stale link (after an opt-out) dies the same day.
TRAINING_DOWNLOAD_URL_SECONDS = env_int("TRAINING_DOWNLOAD_URL_SECONDS", 3600, minimum=60)
MAX_CSV_UPLOAD_BYTES = env_int("MAX_CSV_UPLOAD_BYTES", 20 * 1024 * 1024, minimum=1024)
# DDEX ERN: one message is metadata (a 40-track album is well under 1 MiB), so 20 MiB refuses a runaway or
# hostile file long before memory matters; a zipped batch carries audio, hence its own, larger limit.
DDEX_MAX_MESSAGE_BYTES = env_int("DDEX_MAX_MESSAGE_BYTES", 20 * 1024 * 1024, minimum=1024)
MAX_DDEX_UPLOAD_BYTES = env_int("MAX_DDEX_UPLOAD_BYTES", 1024 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024, minimum=1024)

# Celery: no REDIS_URL means tasks run eagerly in-process (first run, tests on SQLite).
REDIS_URL = env_str("REDIS_URL")
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_DEFAULT_QUEUE = "io"
# Tasks report through the rows they change, never through results: nothing waits on a result, and a
# result subscription made at send time would turn a Redis outage into an error for the sender.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Second guard on worker memory (the first is bounded decoding, fingerprinting/audio.py): a pool process
# whose resident memory passed this after a task is replaced before the next one. KiB; an attribution
# worker holds its label's memory-mapped index and one clip of at most CLIP_MAX_SECONDS, under 500 MB.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int("CELERY_WORKER_MAX_MEMORY_PER_CHILD_KB", 750_000, minimum=65_536)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing fails fast when Redis is away: the request that queued the task has committed its rows and
# answers anyway; sweeps send the work again (config.celery.enqueue_on_commit).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 2, "socket_connect_timeout": 2}
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
CELERY_TIMEZONE = TIME_ZONE
# CPU-bound attribution work has its own queue so I/O work (webhooks, reports) never waits behind it.
CELERY_TASK_ROUTES = {
    "fingerprinting.tasks.*": {"queue": "attribution"},
    "royalties.tasks.*": {"queue": "io"},
    "partner_api.tasks.*": {"queue": "io"},
    "catalog.tasks.*": {"queue": "io"},
}

# Periodic jobs; apps contribute their entries in their own beat.py (wired here so one place lists them).
CELERY_BEAT_SCHEDULE = {
    "beat-heartbeat": {"task": "config.beat_heartbeat", "schedule": 30.0},
    **FINGERPRINTING_BEAT_SCHEDULE,
    **ROYALTIES_BEAT_SCHEDULE,
    **PARTNER_API_BEAT_SCHEDULE,
}

CACHES = {
    "default": (
        {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            # Short timeouts: a Redis outage must make requests fail fast, not hang.
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "partner": env_str("API_THROTTLE_RATE", "1200/min"),
        "partner_burst": env_str("API_THROTTLE_BURST_RATE", "100/s"),
    },
}
# The OpenAPI schema at /api/schema/ is what partners generate clients from (docs/api.md): OpenAPI 3.1 for
# its `webhooks`; request and response components split, so uploads are `format: binary` and read-only
# fields stay out of request bodies. partner_api/schema.py adds what the views cannot say (error codes,
# headers, servers); .spectral.yaml lints the result.
SPECTACULAR_SETTINGS = {
    "TITLE": "Stemma partner API",
    "DESCRIPTION": (
        "Submit AI-generated clips, read which catalog recordings they draw on, report their usage and "
        "revenue, read what you owe each month, and hear about results by webhook.\n\n"
        "Every request sends `Authorization: Bearer <your API key>`; a key acts for one partner within one "
        'label and sees only that data. Every 4xx answers `{"error": {"code", "message", '
        '"fields"}}` with a stable `code` (each operation lists its codes). Lists are cursor-paginated '
        "(`next`, `previous`, `results`). Decimals are strings; money is at the currency's minor unit. "
        "Every answer carries `X-Request-ID`. The guide, with a client generated from this schema: "
        "docs/api.md."
    ),
    "VERSION": "1.1.0",
    "OAS_VERSION": "3.1.0",
    "CONTACT": {"name": "Stemma partner support"},
    "TAGS": [
        {"name": "clips", "description": "Submit clips and read their attributions."},
        {"name": "usage", "description": "Report usage and revenue: JSON batches and report files."},
        {"name": "settlements", "description": "What you owe the label per closed month."},
        {"name": "webhooks", "description": "Endpoints that receive signed events, and their delivery log."},
        {"name": "training", "description": "The recordings you may train on, and their audio."},
    ],
    # The schema served at /api/schema/ names the host it was fetched from (partner_api.schema.postprocess).
    "SERVERS": [{"url": "http://127.0.0.1:8000", "description": "A development server (make demo)."}],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "WebhookEventEnum": "partner_api.models.WebhookEvent",
        "ShareRightEnum": "fingerprinting.models.ShareRight",
    },
    "WEBHOOKS": [
        "partner_api.schema.WEBHOOK_CLIP_ATTRIBUTED",
        "partner_api.schema.WEBHOOK_CLIP_REJECTED",
        "partner_api.schema.WEBHOOK_ATTRIBUTION_REVISED",
        "partner_api.schema.WEBHOOK_ATTRIBUTION_UNLICENSED_USE",
        "partner_api.schema.WEBHOOK_USAGE_REPORT_PROCESSED",
    ],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "partner_api.schema.postprocess",
    ],
}
# /metrics: a bearer token (Prometheus `authorization: credentials`) or an allow-list of client addresses;
# with neither, only DEBUG serves it (config/metrics_view.py).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", [])
METRICS_ALLOWED_NETWORK_LIST = trusted_proxy_networks(
    METRICS_ALLOWED_NETWORKS, setting="METRICS_ALLOWED_NETWORKS"
)
# A Celery worker's own metrics (attribution latency, its queries): served on this port by the worker's
# main process when set, from its PROMETHEUS_MULTIPROC_DIR (config/metrics.py; deploy/README.md). It has no
# token: bind it to an address only Prometheus reaches.
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 0, minimum=0)
WORKER_METRICS_ADDRESS = env_str("WORKER_METRICS_ADDRESS", "127.0.0.1")
# Webhook endpoints on private or loopback addresses: allowed in development (and tests), not in production.
WEBHOOK_ALLOW_PRIVATE_HOSTS = env_bool("WEBHOOK_ALLOW_PRIVATE_HOSTS", DEBUG)

# Attribution engine knobs (fingerprinting reads these; defaults documented in README).
CLIP_MIN_SECONDS = env_float("CLIP_MIN_SECONDS", 3.0, minimum=0.5)
CLIP_MAX_SECONDS = env_float("CLIP_MAX_SECONDS", 600.0, minimum=1.0)
CLIP_PROCESSING_TIMEOUT_SECONDS = env_int("CLIP_PROCESSING_TIMEOUT_SECONDS", 900, minimum=30)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "config.observability.ContextFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s task=%(task_id)s] %(message)s"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # faiss reports at INFO which CPU build it loaded, on every process start.
    "loggers": {"faiss.loader": {"level": "WARNING"}},
}
