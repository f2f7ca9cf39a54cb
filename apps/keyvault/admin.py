"""Key vault admin: metadata only. A new value can be typed into a write-only field that is never
rendered back (not even after a validation error); saving and deleting go through the services
(permission checks, audit). Tokens are listed read-only with a revoke action; the logs are read-only."""
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from apps.core.admin_mixins import ReadOnlyModelAdmin
from apps.core.errors import ServiceError
from apps.rbac.admin_base import RestrictedModelAdmin

from . import destinations, onetime, services
from .forms import WriteOnlyTextarea
from .models import OneTimeToken, Secret, SecretAccess, TokenRedemption


class SecretForm(forms.ModelForm):
    new_value = forms.CharField(
        required=False, strip=False, max_length=services.MAX_VALUE_LENGTH,
        widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text="Write-only: set a new value (required when creating). The current value is never shown.")

    destinations = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text="Where the value may be sent: CIDRs and host names, one per line. Empty on a new secret: "
                  "the default destinations.")

    class Meta:
        model = Secret
        fields = ["name", "kind", "project", "description", "expires_at"]

    user = None  # set by SecretAdmin.get_form

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["destinations"] = "\n".join(self.instance.destinations or [])

    def clean_destinations(self):
        entries = self.cleaned_data["destinations"].replace(",", "\n").split()
        if not entries and self.instance.pk is None:
            return None  # the service applies the default
        try:
            return destinations.normalise(entries)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None

    def clean(self):
        data = super().clean()
        creating = self.instance.pk is None
        if creating and not data.get("new_value"):
            self.add_error("new_value", "A value is required for a new secret.")
        project = data.get("project")
        if (creating or "project" in self.changed_data) and not services.may_act_in_project(
                self.user, project, "add" if creating else "change"):
            self.add_error("project", f"You may not put secrets in {project or 'no project (operators only)'}.")
        return data


SECRET_FIELDS = ["name", "kind", "project", "description", "expires_at", "destinations"]


@admin.register(Secret)
class SecretAdmin(RestrictedModelAdmin):
    form = SecretForm
    list_display = ["name", "kind", "project", "version", "checksum_prefix", "expires_at", "updated_by", "updated_at"]
    list_filter = ["kind", "project"]
    search_fields = ["name", "description"]
    list_select_related = ["project", "updated_by"]
    readonly_fields = ["version", "checksum_prefix", "created_by", "created_at", "updated_by", "updated_at"]
    fields = ["name", "kind", "project", "description", "expires_at", "destinations", "new_value", *readonly_fields]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        # A subclass per request: the form knows its user, the shared admin instance keeps nothing.
        return type(form.__name__, (form,), {"user": request.user})

    def create_through_service(self, request, form):
        data = form.cleaned_data
        return services.create_secret(request.user, value=data["new_value"], **{f: data.get(f) for f in SECRET_FIELDS})

    def update_through_service(self, request, original, changes, form):
        value = changes.pop("new_value", "")
        return services.update_secret(request.user, original, **changes, **({"value": value} if value else {}))

    def delete_through_service(self, request, obj):
        services.delete_secret(request.user, obj)


class ReadOnlyAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    pass


@admin.register(OneTimeToken)
class OneTimeTokenAdmin(ReadOnlyAdmin):
    list_display = ["token_prefix", "purpose", "subject", "status", "created_by", "created_at", "expires_at",
                    "consumed_at", "consumed_by_ip", "bind_ip"]
    list_filter = ["purpose", "revoked", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["subject", "token_prefix", "created_by__username"]
    list_select_related = ["created_by"]
    exclude = ["token_hash"]
    readonly_fields = ["id", "purpose", "subject", "token_prefix", "bind_ip", "created_by", "created_at",
                       "expires_at", "consumed_at", "consumed_by_ip", "revoked", "revoked_at", "revoked_by"]
    actions = ["revoke_tokens"]

    def get_queryset(self, request):
        return onetime.visible_tokens(request.user)

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request, queryset):
        for token in queryset:
            try:
                onetime.revoke_token(request.user, token)
                self.message_user(request, f"Revoked {token.token_prefix}….", messages.SUCCESS)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)


@admin.register(SecretAccess)
class SecretAccessAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "secret_name", "kind", "actor_repr", "purpose", "version", "ip", "request_id"]
    list_filter = ["kind", ("timestamp", admin.DateFieldListFilter)]
    search_fields = ["secret_name", "actor_repr", "purpose", "request_id"]
    date_hierarchy = "timestamp"


@admin.register(TokenRedemption)
class TokenRedemptionAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "outcome", "token", "ip", "request_id", "detail"]
    list_filter = ["outcome", ("timestamp", admin.DateFieldListFilter)]
    search_fields = ["ip", "request_id", "detail"]
    date_hierarchy = "timestamp"
