"""Celery application: `celery -A aimatrix worker|beat`."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")

app = Celery("aimatrix")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
