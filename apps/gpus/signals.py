"""Hooks other apps subscribe to (from their AppConfig.ready()); sent after the change committed.

gpu_health_changed(sender=Gpu, gpu=Gpu, before=str, after=str, reason=str)
    e.g. the clusters app drains a node whose GPU failed.
"""
from django.dispatch import Signal

gpu_health_changed = Signal()
