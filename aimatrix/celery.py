"""Celery application: `celery -A aimatrix worker|beat`."""
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimatrix.settings")

app = Celery("aimatrix")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _freeze_gc(**kwargs):
    """Once tasks are loaded: keep the start-up heap out of every later collection."""
    from aimatrix.gc_tuning import freeze_after_startup

    freeze_after_startup(load_urls=False)


# worker_process_init: each prefork child; worker_ready: the main process (it also runs the tasks
# of the solo and threads pools); beat_init: beat.
for _signal in (signals.worker_process_init, signals.worker_ready, signals.beat_init):
    _signal.connect(_freeze_gc, weak=False)


def _start_job_reconciler(**kwargs):
    """Beat runs the job reconciler (apps/jobs/reconcile.py) in a thread of its own process, not
    as a task on a worker queue: it must work when every worker is dead."""
    import django
    from django.apps import apps

    if not apps.ready:  # Celery's Django fixup normally did it (setup() again would reset logging)
        django.setup()
    from apps.jobs.reconcile import start_in_background

    start_in_background()


signals.beat_init.connect(_start_job_reconciler, weak=False)
