"""The admin's "view on site" shortcut (/admin/r/<type>/<id>/) through the permission layer.

Django's own shortcut redirects to any object's page for any staff user, so the redirect-or-404
answer told who could not see an object whether it exists. Here it redirects only to objects the
user may view; every other id is a 404, the same as one that does not exist."""
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.contenttypes.models import ContentType
from django.http import Http404
from django.shortcuts import redirect

from .permissions import restrict


@staff_member_required
def view_on_site(request, content_type_id, object_id):
    try:
        model = ContentType.objects.get_for_id(content_type_id).model_class()
    except ContentType.DoesNotExist:
        raise Http404("No such object.") from None
    if model is None or not hasattr(model, "get_absolute_url"):
        raise Http404("No such object.")
    try:
        obj = restrict(model._default_manager.all(), request.user, "view").filter(pk=object_id).first()
    except (ValueError, TypeError):
        obj = None
    if obj is None:
        raise Http404("No such object.")
    return redirect(obj.get_absolute_url())
