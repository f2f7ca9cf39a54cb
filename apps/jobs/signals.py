"""Hooks apps above jobs subscribe to (from their AppConfig.ready()).

job_finished(sender=Job, job_id=int, status=str, error=str)
    sent once when a job reaches a final status (the events app records a job.finished event).
"""
from django.dispatch import Signal

job_finished = Signal()
