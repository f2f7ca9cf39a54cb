"""Settings for AI Infra Matrix, read from the environment with single-machine defaults.

Embedded default: SQLite under var/ and Redis on localhost. Production sets DATABASE_URL,
REDIS_URL and AIMATRIX_SECRET_KEY (see `manage.py gen_prod_env`).
"""
import json as _json
import os
import secrets
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet

from .env import env_bool, env_float, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("AIMATRIX_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _local_secret(name: str, make) -> str:
    """A random value kept under var/ (mode 600) so a single machine needs no configuration."""
    path = VAR_DIR / name
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process (worker, beat) created it first
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
    return path.read_text().strip()


# Production (the compose file) sets AIMATRIX_REQUIRE_ENV_SECRETS: then nothing is generated and
# a missing secret stops the start instead of silently creating a new one.
REQUIRE_ENV_SECRETS = env_bool("AIMATRIX_REQUIRE_ENV_SECRETS", False)


def _secret(env_name: str, file_name: str, make) -> str:
    value = env_str(env_name)
    if value or REQUIRE_ENV_SECRETS:
        return value
    return _local_secret(file_name, make)


SECRET_KEY = _secret("AIMATRIX_SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(50))
if not SECRET_KEY:
    raise RuntimeError("AIMATRIX_SECRET_KEY is not set (AIMATRIX_REQUIRE_ENV_SECRETS is on)")
DEBUG = env_bool("AIMATRIX_DEBUG", False)
ALLOWED_HOSTS = env_list("AIMATRIX_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("AIMATRIX_CSRF_TRUSTED_ORIGINS")
# Reverse proxies (addresses/CIDRs, e.g. the compose nginx) whose X-Forwarded-For / X-Real-IP
# are believed; apps.core.request_context.client_ip is the one place that reads them. Empty:
# the client address is the socket peer and those headers are ignored.
TRUSTED_PROXIES = env_networks("AIMATRIX_TRUSTED_PROXIES")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "django_tables2",  # the page kit's sortable, paginated tables
    "django_htmx",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "guardian",
    "axes",
    "apps.core",
    "apps.jobs",
    "apps.keyvault",
    "apps.nodes",
    "apps.gpus",
    "apps.events",
    "apps.clusters",
    "apps.allocations",
    "apps.rbac",  # last: its post_migrate hook syncs role templates once all permissions exist
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestContextMiddleware",
    "apps.core.input_guard.RequestSizeMiddleware",  # body over MAX_REQUEST_BODY_BYTES: 413 unread
    "apps.core.input_guard.RejectNulMiddleware",  # NUL in a URL: 400 before any lookup
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx for partial page updates
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "aimatrix.urls"
ASGI_APPLICATION = "aimatrix.asgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("AIMATRIX_DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, worker and beat share the file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("AIMATRIX_DB_POOL", True):
    # psycopg's pool, one per process (Django 5.1+; it needs CONN_MAX_AGE = 0): a request returns
    # its connection to the pool instead of closing it. Without it, daphne (a fresh thread per
    # sync view) opened a new PostgreSQL session for every request and 200 concurrent clients
    # exhausted max_connections. Celery workers run with AIMATRIX_DB_POOL=0 (Procfile, compose):
    # their fan-out threads each hold a connection for a whole SSH call, which a small pool
    # would starve, and Celery closes a prefork child's pool after every task anyway.
    #
    # Connection budget (aimatrix/topology.py; `python -m aimatrix.topology` prints it): web
    # workers x pool max + daphne processes x pool max + Celery children x (3 + widest fan-out)
    # + beat 2 + management 2. Defaults on 2 cores: 5 x 4 + 1 x 4 + (2 + 1 + 1) x 23 + 2 + 2 =
    # 120, below the 200 max_connections of scripts/pg.sh and the compose postgres (PostgreSQL's
    # own default is 100: raise it, or lower AIMATRIX_DB_POOL_MAX / the worker concurrencies).
    # A request never waits long for a connection: a full pool answers after the timeout with
    # an error instead of piling up sessions.
    from . import topology  # noqa: E402  (reads the environment only)

    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": topology.pool_min(),
        "max_size": topology.pool_max(),
        "timeout": env_float("AIMATRIX_DB_POOL_TIMEOUT", 10.0),  # seconds to wait for a free connection
        "max_idle": 300,  # connections above min_size idle this long are closed
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No pool (Celery workers, or AIMATRIX_DB_POOL=0): a persistent connection per thread, checked
    # before reuse so a PostgreSQL restart costs one reconnect, not an error.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# Shared by every web replica (throttling counters, lockout-free caching).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "aimatrix",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("AIMATRIX_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# django-tables2 renders with the vendored Bootstrap 5 (templates/kit/list_page.html).
DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5-responsive.html"

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("AIMATRIX_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app/static dirs when collectstatic has not run (dev, tests).
WHITENOISE_USE_FINDERS = env_bool("AIMATRIX_STATIC_FROM_FINDERS", True)

# Cookies and transport security: strict by default, HTTPS-only behind TLS.
SECURE_COOKIES = env_bool("AIMATRIX_SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("AIMATRIX_SESSION_AGE", 8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if SECURE_COOKIES:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("AIMATRIX_HSTS_SECONDS", 3600)

# --- Identity ---------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses locked-out logins before any other backend
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous requests get nothing
GUARDIAN_RAISE_403 = False

# Login lockout (django-axes): after this many failures for a username from an address.
AXES_FAILURE_LIMIT = env_int("AIMATRIX_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("AIMATRIX_LOGIN_COOLOFF_HOURS", 0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "apps.rbac.forms.lockout_response"  # the login page with a clear message, 429
# The same client address as the audit log, tokens and throttles (trusted proxies honoured).
AXES_CLIENT_IP_CALLABLE = "apps.core.request_context.request_client_ip"

# --- Key vault ----------------------------------------------------------------------------
# Fernet keys, comma separated: the first encrypts, all decrypt (rotation). Fails closed: the
# key vault refuses to start without a valid key.
ENCRYPTION_KEYS = env_list("AIMATRIX_ENCRYPTION_KEYS") or [
    key for key in [_secret("", "encryption_key", lambda: Fernet.generate_key().decode())] if key
]
# Key for the HMAC signatures of one-time tokens; derived from the secret key unless set.
TOKEN_SIGNING_KEY = env_str("AIMATRIX_TOKEN_SIGNING_KEY")
KEYVAULT_TOKEN_TTL = env_int("AIMATRIX_TOKEN_TTL", 300)
KEYVAULT_TOKEN_MAX_TTL = 3600
KEYVAULT_REDEEM_MAX_AGE = env_int("AIMATRIX_REDEEM_MAX_AGE", 10)

# LDAP (django-auth-ldap) when AIMATRIX_LDAP_SERVER_URI is set; see aimatrix/ldap_settings.py.
from .ldap_settings import configure_ldap  # noqa: E402

configure_ldap(globals())

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: anonymous API calls get 401 with a WWW-Authenticate header.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    # Bodies within MAX_REQUEST_BODY_BYTES, JSON within API_MAX_JSON_DEPTH, no NUL (apps/core/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.api.parsers.JSONParser",
        "apps.core.api.parsers.FormParser",
        "apps.core.api.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    # Applied only where a view names a throttle (e.g. token redemption, which has no login).
    "DEFAULT_THROTTLE_RATES": {"anon": env_str("AIMATRIX_ANON_RATE", "120/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AI Infra Matrix API",
    "DESCRIPTION": "Slurm clusters, nodes, GPUs, allocations, key vault and jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema and docs are for signed-in users and token clients only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# --- Request limits -------------------------------------------------------------------
# Whole request bodies (API parsers, the import page); node import files are up to 5 MB.
MAX_REQUEST_BODY_BYTES = env_int("AIMATRIX_MAX_BODY_BYTES", 8 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES  # Django's cap on form fields (request.POST)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # uploads above this are spooled to disk, not kept in memory
API_MAX_JSON_DEPTH = 32
API_MAX_PAGE_SIZE = 1000
API_MAX_OFFSET = 10_000_000

# --- Channels -------------------------------------------------------------------------
from redis import backoff as _redis_backoff  # noqa: E402  (a library, not app code)
from redis.asyncio import retry as _redis_async_retry  # noqa: E402

CHANNEL_LAYERS = {
    "default": {
        # channels_redis' layer, except that a receive waits out a Redis outage (apps/jobs/channel_layer.py).
        "BACKEND": "apps.jobs.channel_layer.ResilientRedisChannelLayer",
        "CONFIG": {
            # Each idle websocket waits in BZPOPMIN for channels-redis' brpop_timeout (5 s).
            # redis-py 8 reads with a 5 s socket timeout by default, so a quiet job page raced it,
            # lost and crashed its consumer. Reads get room well past that wait; connects stay short.
            # redis-py's asyncio connections retry nothing by default: after a Redis restart the
            # first command on each pooled (dead) connection failed, and with it a websocket
            # handshake (HTTP 500). Retried, the dead connection is replaced at once.
            "hosts": [{"address": REDIS_URL, "socket_timeout": 20, "socket_connect_timeout": 2,
                       "retry": _redis_async_retry.Retry(_redis_backoff.ExponentialBackoff(cap=0.5, base=0.05), 2)}],
            "capacity": 5000,
            "expiry": 60,
        },
    }
}

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None  # results live on the Job row, not in Redis
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_WORKER_SEND_TASK_EVENTS = False
# A task is acknowledged when it ends, not when a worker takes it: a worker killed mid-task (or
# with tasks reserved) leaves them in the broker; a lost pool process puts its task back at once.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Every task has a time limit: jobs get theirs from their kind (apps/jobs/registry.py, at most
# JOBS_MAX_TIME_LIMIT); these defaults bound the periodic tasks. The hard limit kills the process.
JOBS_TIME_LIMIT = env_float("AIMATRIX_JOB_TIME_LIMIT", 1800.0)
JOBS_MAX_TIME_LIMIT = env_float("AIMATRIX_JOB_MAX_TIME_LIMIT", 3600.0)
JOBS_TIME_LIMIT_GRACE = env_float("AIMATRIX_JOB_TIME_LIMIT_GRACE", 30.0)  # soft -> hard
CELERY_TASK_SOFT_TIME_LIMIT = env_float("AIMATRIX_TASK_SOFT_TIME_LIMIT", 300.0)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + JOBS_TIME_LIMIT_GRACE
# A reserved, unacknowledged task is handed out again after this long: longer than the longest
# job may run, so a slow job is never run twice. Tasks of dead workers come back sooner through
# the job reconciler (apps/jobs/reconcile.py), not through this timeout.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(JOBS_MAX_TIME_LIMIT + 2 * JOBS_TIME_LIMIT_GRACE + 60)}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "nodes-refresh-salt-masters": {  # key lists and pings of every Salt master (apps/nodes/salt_tasks.py)
        "task": "apps.nodes.salt_tasks.refresh_salt_masters",
        "schedule": env_float("AIMATRIX_SALT_REFRESH_INTERVAL", 300.0),
        "options": {"queue": "default", "expires": 240},
    },
    "nodes-poll-power-states": {
        "task": "apps.nodes.tasks.poll_power_states",
        "schedule": env_float("AIMATRIX_POWER_POLL_INTERVAL", 60.0),
        "options": {"queue": "bmc", "expires": 55},
    },
    "gpus-maintain-partitions": {
        "task": "apps.gpus.tasks.maintain_partitions",
        "schedule": 3600.0,
        "options": {"queue": "telemetry", "expires": 3000},
    },
    "gpus-rollup": {
        "task": "apps.gpus.tasks.rollup",
        "schedule": 60.0,
        "options": {"queue": "telemetry", "expires": 55},
    },
    "gpus-collect-agentless": {
        "task": "apps.gpus.tasks.collect_agentless",
        "schedule": env_float("AIMATRIX_GPU_COLLECT_INTERVAL", 30.0),
        "options": {"queue": "ssh", "expires": 25},
    },
    "events-evaluate-alerts": {
        "task": "apps.events.tasks.evaluate_alerts",
        "schedule": env_float("AIMATRIX_ALERT_INTERVAL", 30.0),
        "options": {"queue": "default", "expires": 25},
    },
    "events-sweep": {
        "task": "apps.events.tasks.sweep",
        "schedule": 60.0,
        "options": {"queue": "default", "expires": 55},
    },
    "clusters-sync-queues": {
        "task": "apps.clusters.tasks.sync_queues",
        "schedule": env_float("AIMATRIX_SLURM_SYNC_INTERVAL", 30.0),
        "options": {"queue": "slurm", "expires": 25},
    },
    "clusters-node-health": {
        "task": "apps.clusters.tasks.node_health",
        "schedule": env_float("AIMATRIX_SLURM_HEALTH_INTERVAL", 120.0),
        "options": {"queue": "slurm", "expires": 110},
    },
    "clusters-accounting-drift": {
        "task": "apps.clusters.tasks.accounting_drift",
        "schedule": env_float("AIMATRIX_SLURM_ACCOUNTING_CHECK_INTERVAL", 3600.0),
        "options": {"queue": "slurm", "expires": 3000},
    },
    "clusters-idle-gpu-jobs": {
        "task": "apps.clusters.tasks.check_idle_gpu_jobs",
        "schedule": 300.0,
        "options": {"queue": "slurm", "expires": 240},
    },
    "allocations-sweep": {
        "task": "apps.allocations.tasks.sweep",
        "schedule": 60.0,
        "options": {"queue": "default", "expires": 55},
    },
    "clusters-prune-samples": {
        "task": "apps.clusters.tasks.prune_samples",
        "schedule": 3600.0,
        "options": {"queue": "default", "expires": 3000},
    },
}
# How long before an allocation's end its holder is reminded (an allocation.ending event).
ALLOCATION_REMINDER_MINUTES = env_float("AIMATRIX_ALLOCATION_REMINDER_MINUTES", 60.0)
# Fleet binding of standalone nodes: where the requester's keys go (sshd tokens %h, %u).
ALLOCATION_AUTHORIZED_KEYS_FILE = env_str("AIMATRIX_ALLOCATION_AUTHORIZED_KEYS_FILE", "%h/.ssh/authorized_keys")
# Usage: windows up to this many hours read raw GPU samples; longer ones the rollups.
ALLOCATION_USAGE_RAW_HOURS = env_float("AIMATRIX_ALLOCATION_USAGE_RAW_HOURS", 6.0)
CELERY_TASK_ROUTES = {"apps.nodes.tasks.poll_power_states": {"queue": "bmc"}}

# --- Nodes ----------------------------------------------------------------------------
# Where nodes, BMCs and clusters may live (apps/core/netpolicy.py). Loopback, link-local and the
# portal's own addresses are refused unless listed; `make lab` publishes its own networks.
PRIVATE_NETWORKS = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
MANAGED_NETWORKS = env_networks("AIMATRIX_MANAGED_NETWORKS", PRIVATE_NETWORKS)
MANAGED_NETWORKS_DIR = VAR_DIR / "managed-networks.d"  # more of them, one file per source (e.g. lab.txt)
PORTAL_ADDRESSES = env_list("AIMATRIX_PORTAL_ADDRESSES")  # extra addresses of this portal (e.g. a VIP)
# Destinations a new secret may be sent to unless its creator narrows them (CIDRs and host names).
SECRET_DEFAULT_DESTINATIONS = env_list("AIMATRIX_SECRET_DEFAULT_DESTINATIONS", ",".join(MANAGED_NETWORKS))
NODES_SSH_FANOUT = env_int("AIMATRIX_SSH_FANOUT", 20)
NODES_POWER_POLL_BATCH = env_int("AIMATRIX_POWER_POLL_BATCH", 500)
NODES_POWER_POLL_CONCURRENCY = env_int("AIMATRIX_POWER_POLL_CONCURRENCY", 16)
NODES_POWER_POLL_BUDGET = env_float("AIMATRIX_POWER_POLL_BUDGET", 50.0)
# Imports of more rows than this run as a job (apps/nodes/import_job.py); smaller ones at once.
NODES_IMPORT_SYNC_MAX_ROWS = env_int("AIMATRIX_IMPORT_SYNC_MAX_ROWS", 200)

# Cluster figures over time (apps/clusters/history.py): a sample per sync, kept this long.
CLUSTER_SAMPLE_RETENTION_DAYS = env_int("AIMATRIX_CLUSTER_SAMPLE_RETENTION_DAYS", 30)

# --- Slurm jobs (apps/clusters/jobs_sync.py, efficiency.py, submit.py) -------------------
SLURM_SYNC_CONCURRENCY = env_int("AIMATRIX_SLURM_SYNC_CONCURRENCY", 8)  # clusters synced at once
SLURM_SYNC_TIMEOUT = env_float("AIMATRIX_SLURM_SYNC_TIMEOUT", 20.0)  # one cluster's scontrol/sacct deadline
SLURM_SYNC_BUDGET = env_float("AIMATRIX_SLURM_SYNC_BUDGET", 25.0)  # the whole cycle
# Running GPU jobs whose GPU indexes are read per cycle (one `scontrol show job -d` each).
SLURM_SYNC_DETAIL_LIMIT = env_int("AIMATRIX_SLURM_SYNC_DETAIL_LIMIT", 200)
SLURM_SYNC_ACCOUNTING_GRACE = env_float("AIMATRIX_SLURM_SYNC_ACCOUNTING_GRACE", 300.0)  # wait for sacct
# Base template of managed clusters' slurm.conf on the portal's machine (no NodeName/PartitionName
# lines; the cluster's own base_config_path wins); apply waits this long for nodes to answer again.
SLURM_BASE_CONFIG_PATH = env_str("SLURM_BASE_CONFIG_PATH", "")
SLURM_APPLY_VERIFY_TIMEOUT = env_float("AIMATRIX_SLURM_APPLY_VERIFY_TIMEOUT", 60.0)
SLURM_JOB_WORK_DIR = env_str("AIMATRIX_SLURM_JOB_WORK_DIR", "/home/{user}")  # default --chdir ({user}: Slurm user)
SLURM_OUTPUT_CHUNK_BYTES = env_int("AIMATRIX_SLURM_OUTPUT_CHUNK_BYTES", 64 * 1024)
SLURM_IDLE_GPU_UTIL_PCT = env_float("AIMATRIX_SLURM_IDLE_GPU_UTIL_PCT", 5.0)
SLURM_IDLE_GPU_MINUTES = env_int("AIMATRIX_SLURM_IDLE_GPU_MINUTES", 30)
SLURM_EFFICIENCY_RAW_HOURS = env_float("AIMATRIX_SLURM_EFFICIENCY_RAW_HOURS", 6.0)  # longer: 1-minute rollups
# Node health (apps/clusters/node_health.py): restarting slurmd on a node, then waiting for slurmctld
# to hear from it (SlurmdTimeout-sized; the lab's is 20 s).
SLURM_SLURMD_RESTART_TIMEOUT = env_float("AIMATRIX_SLURM_SLURMD_RESTART_TIMEOUT", 60.0)
SLURM_HEALTH_RESPOND_TIMEOUT = env_float("AIMATRIX_SLURM_HEALTH_RESPOND_TIMEOUT", 90.0)

# --- GPUs and telemetry -------------------------------------------------------------
# Samples are kept this many days (PostgreSQL: whole daily partitions are dropped); partitions
# are created this many days ahead. Rollups (1-minute, 1-hour) are recomputed for the last
# GPU_ROLLUP_LOOKBACK_MINUTES on every run, so samples arriving that late still count.
GPU_SAMPLE_RETENTION_DAYS = env_int("AIMATRIX_GPU_SAMPLE_RETENTION_DAYS", 14)
GPU_PARTITIONS_AHEAD = env_int("AIMATRIX_GPU_PARTITIONS_AHEAD", 3)
GPU_ROLLUP_LOOKBACK_MINUTES = env_int("AIMATRIX_GPU_ROLLUP_LOOKBACK_MINUTES", 10)
# Thermal slowdown reported without a break for longer than this marks a GPU degraded.
GPU_THERMAL_DEGRADED_MINUTES = env_float("AIMATRIX_GPU_THERMAL_DEGRADED_MINUTES", 5.0)
# Agentless collection: how often beat polls nodes without an agent, and an agent counts as
# alive while it pushed within this many seconds.
GPU_COLLECT_INTERVAL = env_float("AIMATRIX_GPU_COLLECT_INTERVAL", 30.0)
GPU_AGENT_FRESH_SECONDS = env_float("AIMATRIX_GPU_AGENT_FRESH_SECONDS", 120.0)

# --- Events, alerts and webhooks ------------------------------------------------------
# The alert evaluator runs this often (beat); a firing alert resolves once every sample of the
# last EVENTS_ALERT_SLACK seconds is back on the good side, and a for-duration counts as held when
# the samples reach back to its start within that slack.
EVENTS_ALERT_INTERVAL = env_float("AIMATRIX_ALERT_INTERVAL", 30.0)
EVENTS_ALERT_SLACK = env_float("AIMATRIX_ALERT_SLACK", 60.0)
EVENTS_ALERT_MAX_FOR = env_int("AIMATRIX_ALERT_MAX_FOR", 6 * 3600)
EVENTS_JOB_ERROR_RATE_MIN_JOBS = env_int("AIMATRIX_JOB_ERROR_RATE_MIN_JOBS", 10)
EVENTS_MAX_SILENCE = env_int("AIMATRIX_MAX_SILENCE", 7 * 86400)
# The sweep re-queues rule matching and webhook retries whose task was lost (apps/events/sweep.py).
EVENTS_SWEEP_GRACE = env_float("AIMATRIX_EVENTS_SWEEP_GRACE", 120.0)
EVENTS_SWEEP_MAX_AGE = env_float("AIMATRIX_EVENTS_SWEEP_MAX_AGE", 86400.0)
# Webhooks: each attempt has one wall-clock deadline; failed ones are retried after
# base * 2^(n-1) seconds (capped), at most EVENTS_WEBHOOK_MAX_ATTEMPTS attempts in all.
EVENTS_WEBHOOK_DEADLINE = env_float("AIMATRIX_WEBHOOK_DEADLINE", 10.0)
EVENTS_WEBHOOK_MAX_ATTEMPTS = env_int("AIMATRIX_WEBHOOK_MAX_ATTEMPTS", 5)
EVENTS_WEBHOOK_BACKOFF_BASE = env_float("AIMATRIX_WEBHOOK_BACKOFF_BASE", 10.0)
EVENTS_WEBHOOK_BACKOFF_MAX = env_float("AIMATRIX_WEBHOOK_BACKOFF_MAX", 3600.0)
EVENTS_EMAIL_FROM = env_str("AIMATRIX_EVENTS_EMAIL_FROM", "aimatrix@localhost")
EMAIL_BACKEND = env_str("AIMATRIX_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("AIMATRIX_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("AIMATRIX_EMAIL_PORT", 25)
EMAIL_USE_TLS = env_bool("AIMATRIX_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10  # seconds: a stuck relay never holds a worker past its task limit

# --- Jobs -----------------------------------------------------------------------------
# A running job's worker refreshes its heartbeat this often; the reaper fails jobs whose
# heartbeat is older than the timeout.
JOBS_HEARTBEAT_INTERVAL = env_float("AIMATRIX_JOB_HEARTBEAT_INTERVAL", 5.0)
JOBS_HEARTBEAT_TIMEOUT = env_float("AIMATRIX_JOB_HEARTBEAT_TIMEOUT", 60.0)
# The reconciler runs inside the beat process (not on a worker queue, so it works with every
# worker dead): every interval it re-queues queued jobs whose task is in no queue and held by no
# live worker, and fails running jobs without a heartbeat. Jobs younger than the grace are left
# alone (their task may be on its way); a job lost more than JOBS_MAX_REQUEUES times is failed.
JOBS_RECONCILE_INTERVAL = env_float("AIMATRIX_JOB_RECONCILE_INTERVAL", 15.0)
JOBS_RECONCILE_GRACE = env_float("AIMATRIX_JOB_RECONCILE_GRACE", 10.0)
JOBS_RECONCILE_INSPECT_TIMEOUT = env_float("AIMATRIX_JOB_RECONCILE_INSPECT_TIMEOUT", 1.5)
JOBS_MAX_REQUEUES = env_int("AIMATRIX_JOB_MAX_REQUEUES", 3)
JOBS_QUEUES = ["default", "ssh", "bmc", "slurm", "telemetry"]

# --- Salt (apps/nodes/salt_*.py) ------------------------------------------------------
# The function policy (apps/nodes/salt/policy.py): {"roles": {salt role: [patterns]}, "deny": [more
# patterns; the built-in deny list always applies], "allowed_states": [...]}. Empty: the defaults.
SALT_POLICY: dict = {}
# Portal role template (Django group) -> Salt policy role; empty: apps/nodes/salt_roles.py's map.
SALT_PORTAL_ROLES: dict = {}
SALT_REFRESH_BUDGET = env_float("AIMATRIX_SALT_REFRESH_BUDGET", 40.0)  # seconds per master per beat round
# Scaling through Salt (apps/clusters/scaling*.py). The repository's states (salt/states: slurm.node)
# must be in the master's file_roots: SALT_STATES_DIR says where they are (documentation and checks;
# the lab's salt.sh adds it). The portal writes each node's pillar (munge key from the vault,
# slurm.conf, gres.conf) into SALT_PILLAR_DIR, a pillar_roots directory of the master that the
# portal owns (top.sls included), mode 600, only for the duration of a state run.
# Batch install of minions over SSH (apps/nodes/salt_install.py). Where the minion comes from, JSON
# in AIMATRIX_SALT_MINION_SOURCE: {"kind": "packages" (the host's package manager; optional
# "version" pin and "repository": {"apt": sources.list line, "dnf": .repo file, "zypper": .repo file})
# | "pip" ("version", optional "index_url", venv "prefix") | "shared" ("path" of a salt-minion on a
# shared filesystem, e.g. the cluster's NFS software tree), "config_dir" (default /etc/salt),
# "root_dir" (optional; "{minion_id}" is replaced)}.
SALT_MINION_SOURCE: dict = _json.loads(env_str("AIMATRIX_SALT_MINION_SOURCE", "") or '{"kind": "packages"}')
# Hosts installed at once (a request may ask for fewer; never more than AIMATRIX_SSH_FANOUT).
SALT_INSTALL_PARALLEL = env_int("AIMATRIX_SALT_INSTALL_PARALLEL", 10)
SALT_STATES_DIR = env_str("AIMATRIX_SALT_STATES_DIR", str(BASE_DIR / "salt" / "states"))
SALT_PILLAR_DIR = env_str("AIMATRIX_SALT_PILLAR_DIR", "")
# Per cluster name ("*": all) overrides of slurm.node's pillar: install_packages, packages,
# munge {key_path, user, service}, slurmd {service | start_argv/stop_argv/status_argv ({node})}.
# JSON in AIMATRIX_SLURM_NODE_PILLAR (workers read it from the environment too).
SLURM_NODE_PILLAR: dict = _json.loads(env_str("AIMATRIX_SLURM_NODE_PILLAR", "") or "{}")
SCALE_STATE_TIMEOUT = env_float("AIMATRIX_SCALE_STATE_TIMEOUT", 300.0)  # state.apply slurm.node
SCALE_IDLE_TIMEOUT = env_float("AIMATRIX_SCALE_IDLE_TIMEOUT", 120.0)  # new nodes idle in Slurm

# --- Health, metrics, self-check ------------------------------------------------------
HEALTH_WORKER_TIMEOUT = env_float("AIMATRIX_HEALTH_WORKER_TIMEOUT", 1.5)
SELFCHECK_MIN_FREE_BYTES = env_int("AIMATRIX_SELFCHECK_MIN_FREE_BYTES", 512 * 1024 * 1024)
SELFCHECK_MAX_CLOCK_SKEW = env_float("AIMATRIX_SELFCHECK_MAX_CLOCK_SKEW", 2.0)
# Bearer token for /metrics; without one, only staff sessions and loopback clients may scrape.
METRICS_TOKEN = env_str("AIMATRIX_METRICS_TOKEN")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("AIMATRIX_LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "django.channels.server": {"level": "WARNING"}},
}
