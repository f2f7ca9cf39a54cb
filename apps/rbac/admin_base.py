"""The one base of every ModelAdmin: the admin is one more client of the permission layer and of
the services, not a second, weaker path.

- Change lists and object pages show what `restrict(..., "view")` lets the user reach.
- Each object's view / change / delete permission is `can()` on that object (after the model
  permission Django checks).
- Foreign-key and many-to-many choices are what the user may use: `restrict(..., "use")` where the
  related model has a `use` permission (secrets), else "view"; a project field offers the projects
  the user may put the object in. List filters on relations offer only values of visible rows.
- Saves, deletes, inline rows and the stock "delete selected" action go through the app's
  services, which check permissions and write the one audit entry. A ModelAdmin that can write
  implements `create_through_service` / `update_through_service` / `delete_through_service`; an
  inline implements `save_through_services`. Without them a write is refused, never done directly.
- A service refusal is answered with its status (400/403/409) and message; the transaction Django
  opened for the page is rolled back, so nothing half-done remains.
- Nothing is kept on the admin instance: one instance serves every request, concurrently.
"""
from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, PermissionDenied
from django.db import models, transaction
from django.template.response import TemplateResponse

from apps.core.errors import ServiceError

from .models import Project
from .permissions import can, has_action, projects_to_act_in, restrict


def choice_action(model) -> str:
    """The action a user needs on an object to pick it in a form: "use" where the model has it."""
    return "use" if has_action(model, "use") else "view"


class RestrictedChoicesMixin:
    """Foreign-key and many-to-many choices restricted to what the user may use."""

    # field name -> the action the user needs on a choice, where the default rule is not wanted
    choice_actions: dict[str, str] = {}

    def choices_for(self, db_field, request):
        related = db_field.remote_field.model
        if related is Project:
            return projects_to_act_in(request.user, self.model, "add")
        queryset = self.get_field_queryset(None, db_field, request)
        if queryset is None:
            queryset = related._default_manager.all()
        action = self.choice_actions.get(db_field.name) or choice_action(related)
        return restrict(queryset, request.user, action)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs.setdefault("queryset", self.choices_for(db_field, request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("queryset", self.choices_for(db_field, request))
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def service_refusal(request, admin_site, exc: ServiceError, opts) -> TemplateResponse:
    errors = exc.as_dict()
    lines = [msg if field == "detail" else f"{field}: {msg}" for field, msgs in errors.items()
             for msg in (msgs if isinstance(msgs, list) else [msgs])]
    context = {**admin_site.each_context(request), "title": "Refused", "opts": opts, "errors": lines}
    return TemplateResponse(request, "admin/service_refused.html", context, status=exc.status)


class RestrictedModelAdmin(RestrictedChoicesMixin, admin.ModelAdmin):
    # --- what the user may reach ---------------------------------------------------------------
    def get_queryset(self, request):
        return restrict(super().get_queryset(request), request.user, "view")

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and (obj is None or can(request.user, obj, "view"))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or can(request.user, obj, "change"))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or can(request.user, obj, "delete"))

    def get_list_filter(self, request):
        """Relation filters list only values found in visible rows (no names of hidden objects)."""
        out = []
        for entry in super().get_list_filter(request):
            field = _field_or_none(self.model, entry) if isinstance(entry, str) else None
            related = isinstance(field, (models.ForeignKey, models.ManyToManyField))
            out.append((entry, admin.RelatedOnlyFieldListFilter) if related else entry)
        return out

    # --- writes through the services -----------------------------------------------------------
    def create_through_service(self, request, form):
        """Create the object from `form.cleaned_data` through the app's service; return it."""
        raise ImproperlyConfigured(f"{type(self).__name__} creates no objects outside its service.")

    def update_through_service(self, request, original, changes: dict, form):
        """Apply `changes` (field -> new value, changed fields only) to `original` (the stored row)."""
        raise ImproperlyConfigured(f"{type(self).__name__} changes no objects outside its service.")

    def delete_through_service(self, request, obj):
        raise ImproperlyConfigured(f"{type(self).__name__} deletes no objects outside its service.")

    def save_model(self, request, obj, form, change):
        if change:
            original = type(obj)._default_manager.get(pk=obj.pk)
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
            if not changes:
                return  # only inline rows changed: no update (and no audit entry) for the object
            saved = self.update_through_service(request, original, changes, form)
        else:
            saved = self.create_through_service(request, form)
        # The admin's own object (the form's instance) takes the saved row's state: the redirect,
        # the admin's change log and the inlines use it.
        obj.pk = saved.pk
        obj._state.adding = False
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # Many-to-many fields reached the service with the other changes; inline rows go through
        # their inline's service.
        for formset in formsets:
            self.save_formset(request, form, formset, change)

    def save_formset(self, request, form, formset, change):
        # Lists the new, changed and deleted rows (the inline and the change message use them);
        # with commit=False nothing is written.
        formset.save(commit=False)
        if not (formset.new_objects or formset.changed_objects or formset.deleted_objects):
            return
        inline = next((i for i in self.get_inline_instances(request, form.instance) if i.model is formset.model), None)
        if not isinstance(inline, RestrictedInlineMixin):
            raise ImproperlyConfigured(f"{formset.model.__name__} rows are saved through services only.")
        inline.save_through_services(request, form.instance, formset)

    def delete_model(self, request, obj):
        self.delete_through_service(request, obj)

    def get_deleted_objects(self, objs, request):
        """What a delete takes with it, for the confirmation page. Whether the user may delete is
        the service's decision (it checks and audits); records that go with their parent, such as
        a node's events, have no delete permission of their own to ask for."""
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        """The stock "delete selected" action: every row through the service, or none at all."""
        if restrict(queryset, request.user, "delete").count() != queryset.count():
            raise PermissionDenied("You may not delete every selected object.")
        for obj in queryset:
            self.delete_through_service(request, obj)

    # --- service refusals as answers -----------------------------------------------------------
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceError as exc:
            return service_refusal(request, self.admin_site, exc, self.opts)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceError as exc:
            return service_refusal(request, self.admin_site, exc, self.opts)

    def changelist_view(self, request, extra_context=None):
        try:
            if request.method != "POST":
                return super().changelist_view(request, extra_context)
            with transaction.atomic():  # an action refused half-way leaves nothing (admin log included)
                return super().changelist_view(request, extra_context)
        except ServiceError as exc:
            return service_refusal(request, self.admin_site, exc, self.opts)


class RestrictedInlineMixin(RestrictedChoicesMixin):
    """Inline rows: editable when the user may `parent_action` the parent object; saved by
    `save_through_services(request, parent, formset)`, which the inline implements from the
    formset's `new_objects`, `changed_objects` and `deleted_objects` (unsaved)."""

    parent_action = "change"

    def _may_edit(self, request, obj) -> bool:
        return obj is None or can(request.user, obj, self.parent_action)

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and self._may_edit(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_edit(request, obj)

    def save_through_services(self, request, parent, formset):
        raise ImproperlyConfigured(f"{type(self).__name__} saves no rows outside its service.")


class RestrictedTabularInline(RestrictedInlineMixin, admin.TabularInline):
    pass


class RestrictedStackedInline(RestrictedInlineMixin, admin.StackedInline):
    pass


def _field_or_none(model, name: str):
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:  # a lookup path such as "bmc__driver"
        return None
