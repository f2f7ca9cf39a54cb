"""Content types looked up from the database, not from the per-process cache.

Long-lived processes (daphne, workers) would otherwise keep ids that a database flush or restore
has replaced, and fail on the foreign key; one indexed query per write is cheap.
"""
from django.contrib.contenttypes.models import ContentType


def content_type_for(obj_or_model) -> ContentType:
    opts = obj_or_model._meta
    found = ContentType.objects.filter(app_label=opts.app_label, model=opts.model_name).first()
    return found or ContentType.objects.get_for_model(obj_or_model)
