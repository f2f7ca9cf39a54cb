"""WSGI entry point for plain HTTP (pages, API, admin, static via whitenoise): gunicorn serves
`aimatrix.wsgi:application` with aimatrix/gunicorn_conf.py; only /ws/ goes to daphne (asgi.py)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")
application = get_wsgi_application()

from aimatrix.gc_tuning import freeze_after_startup  # noqa: E402

# gunicorn preloads this module in the master before forking (gunicorn_conf.preload_app), so the
# workers share one frozen start-up heap.
freeze_after_startup()
