"""Base page views that change things: form (create/edit), delete with confirmation, and bulk
actions on selected rows with a confirmation that lists the objects.

Declarative like the list pages: a view sets `visible_queryset()` (what the user may see: 404
outside it), `required_action` (checked on the object here: 403), and `save()` / `delete()` /
an action's `run`, which call the app's service. The service checks again, validates, and writes
the audit entry; its refusals come back as errors next to the field (never a dict), or as a
message for the page as a whole.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.views import View
from django.views.generic import FormView

from apps.core.errors import InvalidInput, ServiceError
from apps.core.page_messages import report_service_error
from apps.core.redirects import safe_next_url

from .permissions import can

CONFIRM_FIELD = "confirm"
MAX_SELECTED = 1000


def add_service_errors(form, exc: ServiceError) -> None:
    """A service refusal as form errors: under the field it names, else on top of the form."""
    errors = exc.errors if isinstance(exc, InvalidInput) else {exc.field or "detail": [exc.message]}
    for field, messages_ in errors.items():
        target = field if field in form.fields else None
        for message in messages_ if isinstance(messages_, (list, tuple)) else [messages_]:
            form.add_error(target, message if target or field in ("detail", "non_field_errors")
                           else f"{field}: {message}")


class ObjectMixin(LoginRequiredMixin):
    """`visible_queryset()` is what the user may see; `required_action` what they must be allowed
    to do to this object (`can`) before a form is even shown."""

    required_action = "change"
    pk_url_kwarg = "pk"

    def visible_queryset(self):
        raise NotImplementedError

    def get_object(self):
        obj = get_object_or_404(self.visible_queryset(), pk=self.kwargs[self.pk_url_kwarg])
        if self.required_action and not can(self.request.user, obj, self.required_action):
            raise PermissionDenied(f"You may not {self.required_action} {obj}.")
        return obj


class KitFormView(LoginRequiredMixin, FormView):
    """Create (no `pk` in the URL) or edit. Override `may_create()` for the create page, `save(form)`
    to call the service (returns the object), and `form_kwargs()` for extra form arguments."""

    # Browsers send forms as GET and POST; FormView would also take PUT as a POST.
    http_method_names = ["get", "post"]
    template_name = "kit/form_page.html"
    page_title = ""
    page_intro = ""
    submit_label = "Save"
    success_message = "Saved {obj}."
    cancel_url = None
    object = None

    def may_create(self) -> bool:
        return False

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            if "pk" in kwargs:
                self.object = self.get_object()
            elif not self.may_create():
                raise PermissionDenied("You may not add one.")
        return super().dispatch(request, *args, **kwargs)

    def form_kwargs(self) -> dict:
        return {}

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), **self.form_kwargs()}

    def save(self, form):
        raise NotImplementedError

    def form_valid(self, form):
        try:
            obj = self.save(form)
        except ServiceError as exc:
            if exc.status == 403 and not isinstance(exc, InvalidInput):
                raise PermissionDenied(exc.message)
            add_service_errors(form, exc)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status)
        messages.success(self.request, self.success_message.format(obj=obj))
        return redirect(self.get_success_url(obj))

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def get_success_url(self, obj=None):
        return safe_next_url(self.request, obj.get_absolute_url() if obj is not None else "dashboard")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(object=self.object, page_title=self.page_title.format(obj=self.object),
                   page_intro=self.page_intro, submit_label=self.submit_label,
                   cancel_url=self.cancel_url or (self.object.get_absolute_url() if self.object else None))
        return ctx


class KitConfirmView(View):
    """One confirmed action on one thing: GET (or a POST without confirm=yes) answers the
    confirmation page; POST with confirm=yes runs `act(target)` (the service call), which returns
    the message to show. A service refusal is shown as a message and changes nothing. Subclasses
    say what the target is, what the page says (`confirmation`) and where to go afterwards."""

    # GET and POST only: another verb must not reach a hook that changes things.
    http_method_names = ["get", "post"]
    template_name = "kit/confirm_page.html"

    def target(self):
        return self.get_object()

    def confirmation(self, target) -> dict:
        """The page: page_title, consequence, confirm_label, objects, cancel_url (see kit/confirm_page.html)."""
        raise NotImplementedError

    def act(self, target) -> str:
        raise NotImplementedError

    def done_url(self, target) -> str:
        return target.get_absolute_url()

    def refused_url(self, target) -> str:
        return self.done_url(target)

    def get(self, request, *args, **kwargs):
        target = self.target()
        return render(request, self.template_name, {"danger": True, "objects": [target], **self.confirmation(target)})

    def post(self, request, *args, **kwargs):
        if request.POST.get(CONFIRM_FIELD) != "yes":
            return self.get(request, *args, **kwargs)
        target = self.target()
        try:
            message = self.act(target)
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect(self.refused_url(target))
        messages.success(request, message)
        return redirect(self.done_url(target))


class KitDeleteView(ObjectMixin, KitConfirmView):
    """GET: the confirmation page saying what will go; POST with confirm=yes: `delete(obj)`."""

    required_action = "delete"
    success_url = "dashboard"

    def consequence(self, obj) -> str:
        return f"{obj} will be deleted. This cannot be undone."

    def delete(self, obj) -> None:
        raise NotImplementedError

    def confirmation(self, obj) -> dict:
        return {"page_title": f"Delete {obj}?", "consequence": self.consequence(obj), "confirm_label": "Delete",
                "cancel_url": obj.get_absolute_url()}

    def act(self, obj) -> str:
        name = str(obj)
        self.delete(obj)
        return f"Deleted {name}."

    def done_url(self, obj) -> str:
        return resolve_url(self.success_url)

    def refused_url(self, obj) -> str:
        return obj.get_absolute_url()


@dataclass(frozen=True)
class BulkAction:
    """One button of a list's bulk bar. `run(user, objects)` calls the service and returns the
    message to show (or a redirect); a destructive action confirms first, listing the objects."""

    label: str
    run: Callable
    consequence: str = ""
    destructive: bool = False
    # check(user, objects) raises a ServiceError before the confirmation page is shown: nobody is
    # asked to confirm what they will be refused.
    check: Callable | None = None


class KitBulkView(LoginRequiredMixin, View):
    """Target of a list page's bulk bar: POST action=<name>, pk=<each selected row>."""

    http_method_names = ["post"]
    actions: dict[str, BulkAction] = {}
    list_url = "dashboard"
    noun = "object"
    confirm_template_name = "kit/confirm_page.html"

    def visible_queryset(self):
        raise NotImplementedError

    def confirm_context(self, name: str, action: BulkAction, objects: list) -> dict:
        """Extra context for an app's own confirmation template (extending kit/confirm_page.html)."""
        return {}

    def post(self, request):
        back = safe_next_url(request, self.list_url)
        action = self.actions.get(request.POST.get("action", ""))
        if action is None:
            messages.error(request, "action: choose one of the buttons.")
            return redirect(back)
        pks = [pk for pk in request.POST.getlist("pk")[:MAX_SELECTED + 1] if pk.isdigit()]
        if len(pks) > MAX_SELECTED:
            messages.error(request, f"pk: select at most {MAX_SELECTED} rows at once.")
            return redirect(back)
        objects = list(self.visible_queryset().filter(pk__in=pks))
        if not objects:
            messages.error(request, f"Select at least one {self.noun} first.")
            return redirect(back)
        if action.check is not None:
            try:
                action.check(request.user, objects)
            except ServiceError as exc:
                report_service_error(request, exc)
                return redirect(back)
        if action.destructive and request.POST.get(CONFIRM_FIELD) != "yes":
            return render(request, self.confirm_template_name, {
                **self.confirm_context(request.POST["action"], action, objects),
                "page_title": f"{action.label} {len(objects)} {self.noun}{'s' if len(objects) != 1 else ''}?",
                "consequence": action.consequence, "objects": objects, "danger": True,
                "confirm_label": action.label, "cancel_url": back,
                "hidden_fields": [("action", request.POST["action"]), ("next", back)]
                + [("pk", obj.pk) for obj in objects]})
        try:
            result = action.run(request.user, objects)
        except ServiceError as exc:
            report_service_error(request, exc)
            return redirect(back)
        if isinstance(result, str):
            messages.success(request, result)
            return redirect(back)
        return result
