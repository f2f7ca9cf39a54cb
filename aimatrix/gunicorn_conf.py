"""gunicorn settings: `gunicorn -c aimatrix/gunicorn_conf.py aimatrix.wsgi:application`.

Plain HTTP only (pages, API, admin, static via whitenoise); /ws/ goes to daphne. Sync workers:
one request at a time per process, so each holds at most one pooled PostgreSQL connection while
it serves. A front (nginx: docker/nginx.conf, or the one scripts/run.sh generates) buffers slow
clients, so sync workers are never held by them.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aimatrix import topology  # noqa: E402
from aimatrix.env import env_int, env_str  # noqa: E402

bind = [env_str("AIMATRIX_WEB_BIND", "127.0.0.1:8001")]
workers = topology.web_workers()
worker_class = "sync"
# Load Django, the apps and the URLconf once in the master (aimatrix/wsgi.py freezes that heap),
# then fork: workers start at once and share those pages.
preload_app = True
timeout = env_int("AIMATRIX_WEB_TIMEOUT", 60)  # a request running longer than this is killed
graceful_timeout = 30
keepalive = 5  # the front keeps its upstream connections open
# Recycle a worker now and then so a slow leak cannot grow without bound (jitter: not all at once).
max_requests = env_int("AIMATRIX_WEB_MAX_REQUESTS", 20000)
max_requests_jitter = max_requests // 10
accesslog = env_str("AIMATRIX_WEB_ACCESS_LOG") or None  # the front logs requests already
errorlog = "-"
loglevel = env_str("AIMATRIX_WEB_LOG_LEVEL", "info")
proc_name = "aimatrix-web"
# Django alone decides whether a request came over https (SECURE_PROXY_SSL_HEADER, trusted proxies):
# gunicorn must not turn a client's X-Forwarded-Proto into wsgi.url_scheme on its own.
secure_scheme_headers = {}
# No runtime control socket (gunicorn 27 puts one under $HOME: two servers on a machine would collide).
control_socket_disable = True


def pre_fork(server, worker):
    """The master must not hand a database connection (or a pool with its threads) to a child:
    close whatever start-up opened before each fork."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
        if getattr(conn, "pool", None):
            conn.close_pool()
