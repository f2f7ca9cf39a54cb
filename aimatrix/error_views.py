"""Error handlers: 403/404/500 inside the normal layout (templates/403.html, 404.html, 500.html).

403 and 404 need nothing here: Django's default handlers render those templates with the request,
so the navigation follows the user. 500 renders without the request on purpose: the error may come from the database or a
context processor, and the error page must not fail the same way.
"""
from django.http import HttpResponseServerError
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token


@requires_csrf_token
def server_error(request, template_name="500.html"):
    return HttpResponseServerError(loader.get_template(template_name).render())
