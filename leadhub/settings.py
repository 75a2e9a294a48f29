"""LeadHub settings, read from the environment (12-factor).

Nothing set: SQLite and in-process background work, for `make run` and `make test`.
`DATABASE_URL` / `REDIS_URL` set: PostgreSQL (with row-level security) and a real Celery worker.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
TESTING = env_bool("LEADHUB_TESTING", False) or "pytest" in sys.modules
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-in-production-0123456789"  # noqa: S105
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET)
if SECRET_KEY == _DEV_SECRET and not (DEBUG or TESTING or env_bool("LEADHUB_DEMO")):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "SECRET_KEY must be set in the environment unless DEBUG or LEADHUB_DEMO is on."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "axes",
    "csp",
    "django_htmx",
    "leadhub.tenancy",
    "leads",
    "scoring",
    "nurturing",
    "conversion",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    # Resolves the tenant once (session membership or API key) and runs the rest of the
    # request inside one transaction with the tenant set for row-level security.
    "leadhub.tenancy.middleware.TenantMiddleware",
]

ROOT_URLCONF = "leadhub.urls"
WSGI_APPLICATION = "leadhub.wsgi.application"
ASGI_APPLICATION = "leadhub.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["leadhub.tenancy.templatetags.ui"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "leadhub.tenancy.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'leadhub.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if IS_POSTGRES and TESTING and not env_bool("CI"):
    # Several test runs may share one PostgreSQL server on a developer machine; give each its own database.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
if not IS_POSTGRES:
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    (BASE_DIR / "var").mkdir(exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, broker, background work ---------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Tests use their own prefix and clear only it, never the rest of a shared Redis database;
            # each parallel test worker its own, so that one's clearing never resets another's counters.
            "KEY_PREFIX": os.environ.get(
                "CACHE_KEY_PREFIX",
                f"leadhub-test{os.environ.get('PYTEST_XDIST_WORKER', '')}" if TESTING else "leadhub",
            ),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Tests run tasks in-process even when REDIS_URL is set (CI): nothing consumes the queue during the suite,
# and the real-worker test switches eager mode off for itself.
CELERY_TASK_ALWAYS_EAGER = TESTING or not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = "leadhub"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Fail fast when the broker is down: the outbox row keeps the work and the sweep re-sends it.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BEAT_SCHEDULE = {
    "events-outbox-sweep": {
        "task": "leadhub.tasks.events_outbox_sweep",
        "schedule": timedelta(minutes=1),
    },
    "idempotency-records-purge": {
        "task": "leadhub.tasks.idempotency_records_purge",
        "schedule": crontab(minute=17),
    },
    # Hourly look for organizations whose predictive model is older than their retraining interval.
    "predictive-retrain": {
        "task": "scoring.predictive.tasks.predictive_retrain_due",
        "schedule": crontab(minute=41),
    },
    # Interest fades when a lead goes quiet: engagement half-lives and intent windows are re-applied
    # hourly, set-based, to the leads holding time-dependent points (and MQLs that fall below the floor
    # are recycled).
    "scoring-decay": {
        "task": "scoring.tasks.scoring_decay_schedule",
        "schedule": crontab(minute=23),
    },
    # SLA timers: warnings and breaches of handoffs' clocks (conversion.sla.sweep), idempotent.
    "sla-sweep": {
        "task": "conversion.sla.tasks.sla_sweep",
        "schedule": timedelta(seconds=30),
    },
    # Assignees hear of each task that fell due once, within a minute.
    "workspace-task-reminders": {
        "task": "conversion.workspace.tasks.workspace_task_reminders",
        "schedule": timedelta(minutes=1),
    },
}

# --- Auth and security ----------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "tenancy/locked_out.html"
AXES_VERBOSE = False

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 12
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page's meta tag, not the cookie
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

if not DEBUG and not TESTING and not env_bool("LEADHUB_DEMO"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- Internationalisation and static files ---------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if (DEBUG or TESTING)
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING or env_bool("LEADHUB_DEMO")

# --- Email ----------------------------------------------------------------------------------
EMAIL_URL = os.environ.get("EMAIL_URL", "")
if EMAIL_URL:
    from urllib.parse import unquote, urlparse

    _email = urlparse(EMAIL_URL)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email.hostname or "localhost"
    EMAIL_PORT = _email.port or 25
    EMAIL_HOST_USER = unquote(_email.username or "")
    EMAIL_HOST_PASSWORD = unquote(_email.password or "")
    EMAIL_USE_TLS = _email.scheme in {"smtp+tls", "submission"}
    EMAIL_USE_SSL = _email.scheme == "smtps"
elif TESTING:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "LeadHub <no-reply@leadhub.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The dashboard's own address, for links in emails sent from background work (no request at hand).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "leadhub.tenancy.authentication.ApiKeyAuthentication",
        "leadhub.tenancy.authentication.TenantSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["leadhub.tenancy.permissions.HasTenant"],
    "DEFAULT_THROTTLE_CLASSES": ["leadhub.tenancy.throttling.TenantRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "leadhub.api.pagination.DefaultCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "leadhub.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

LEADHUB_API_RATE_PER_MINUTE = int(os.environ.get("LEADHUB_API_RATE_PER_MINUTE", "1200"))
LEADHUB_BULK_MAX_ITEMS = 1000
# Public form submissions per minute: per visitor (IP) and form, and per form across visitors.
LEADHUB_FORM_RATE_PER_IP_PER_MINUTE = int(os.environ.get("LEADHUB_FORM_RATE_PER_IP_PER_MINUTE", "20"))
LEADHUB_FORM_RATE_PER_FORM_PER_MINUTE = int(os.environ.get("LEADHUB_FORM_RATE_PER_FORM_PER_MINUTE", "60000"))
LEADHUB_FORM_MIN_FILL_SECONDS = float(os.environ.get("LEADHUB_FORM_MIN_FILL_SECONDS", "2"))
LEADHUB_IDEMPOTENCY_TTL = timedelta(hours=24)
# Connections a PostgreSQL CSV import works with at once (contacts partitioned by email): about the
# database server's cores.
IMPORT_WORKERS = int(os.environ.get("LEADHUB_IMPORT_WORKERS", "2"))
# Recompute chunks scored at once (Celery worker processes, or the threads of `recompute_job_run`): a
# recompute is split into a multiple of this many chunks, so that they finish together.
SCORING_RECOMPUTE_PARALLEL = int(os.environ.get("LEADHUB_SCORING_RECOMPUTE_PARALLEL", "2"))

SPECTACULAR_SETTINGS = {
    "TITLE": "LeadHub API",
    "DESCRIPTION": (
        "Multi-tenant lead management. Authenticate with `Authorization: Bearer <key>`; "
        'errors are `{"error": {"code", "message", "fields"}}`; POSTs accept `Idempotency-Key`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "Stage": "leads.models.Stage",
        "Channel": "leads.models.Channel",
        "TouchpointType": "leads.models.TouchpointType",
        "CustomFieldEntity": "leads.models.CustomFieldEntity",
        "CustomFieldType": "leads.models.CustomFieldType",
        "Role": "leadhub.tenancy.models.Role",
        "ApiKeyScope": "leadhub.tenancy.models.ApiKeyScope",
        "FormStatus": "leads.models_forms.FormStatus",
        "SubmissionStatus": "leads.models_forms.SubmissionStatus",
        "SubmissionSource": "leads.models_forms.SubmissionSource",
        "ConsentPurpose": "leads.models_forms.ConsentPurpose",
        "ConsentStatus": "leads.models_forms.ConsentStatus",
        "ConsentSource": "leads.models_forms.ConsentSource",
        "ConsentChange": "leads.models_forms.ConsentChange",
        "ScoringJobStatus": "scoring.models.JobStatus",
        "ScoringVersionStatus": "scoring.models.VersionStatus",
        "BantSource": "scoring.models.BantSource",
        "Grade": "scoring.models.GRADE_CHOICES",
        "AssignmentRuleKind": "conversion.models.RuleKind",
        "RejectionReason": "conversion.models.RejectionReason",
        "HandoffStatus": "conversion.models.HandoffStatus",
        "SlaState": "conversion.models.SlaState",
        "ActivityKind": "conversion.models.ActivityKind",
        "NotificationKind": "conversion.models.NotificationKind",
        "OpportunityStatus": "conversion.models.deals.OpportunityStatus",
        "RewardStatus": "conversion.models.deals.RewardStatus",
    },
    # The tenant managers refuse to run without a tenant; schema generation only needs empty querysets.
    "DEFAULT_QUERY_MANAGER": "_base_manager",
    "SWAGGER_UI_DIST": "/static/vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "/static/img/favicon.svg",
    "APPEND_COMPONENTS": {
        "securitySchemes": {"ApiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "lh_..."}}
    },
    "SECURITY": [{"ApiKey": []}],
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
