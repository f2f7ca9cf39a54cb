"""/nodes/salt/install/: the batch minion install page. Choose nodes or upload an inventory; the
job page then follows every host's steps live. The same service as the API (salt_install_job)."""
from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse

from apps.core.errors import InvalidInput, ServiceError
from apps.rbac.page_views import KitFormView, add_service_errors
from apps.rbac.permissions import restrict

from . import importer, salt_install_job
from .models import Node
from .salt_install import Step, minion_source, parallelism
from .salt_models import SaltMaster


class BatchInstallForm(forms.Form):
    nodes = forms.ModelMultipleChoiceField(queryset=Node.objects.none(), required=False,
                                           widget=forms.SelectMultiple(attrs={"size": 10}),
                                           help_text="Nodes you may change; or upload an inventory below.")
    inventory = forms.FileField(required=False, help_text=(
        "CSV, JSON or YAML with the node import's columns (name, address, ssh_user, ssh_credential, host_key ...). "
        "Rows naming existing nodes use them; new ones are imported first."))
    master = forms.ModelChoiceField(queryset=SaltMaster.objects.none(), required=False,
                                    help_text="The Salt master (the only one when empty).")
    minion_id = forms.CharField(max_length=120, initial=salt_install_job.MINION_ID_TEMPLATE, label="Minion id",
                                help_text="Per node; {node} is the node's name.")
    parallel = forms.IntegerField(min_value=1, max_value=100, required=False, label="Hosts at once",
                                  help_text=f"Default {parallelism(10**6)} (the setting).")
    portal_url = forms.CharField(max_length=300, label="Portal address",
                                 help_text="How the hosts reach this portal (the bootstrap redeems its token there).")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["nodes"].queryset = restrict(Node.objects.order_by("name"), user, "change")
        self.fields["master"].queryset = SaltMaster.objects.order_by("name")

    def clean(self):
        data = super().clean()
        if bool(data.get("nodes")) == bool(data.get("inventory")):
            raise forms.ValidationError("Choose nodes, or upload an inventory; one of the two.")
        return data


class BatchInstallView(KitFormView):
    template_name = "nodes/salt/batch_install.html"
    form_class = BatchInstallForm
    page_title = "Install Salt minions"
    page_intro = ("Over SSH on each host: SSH and sudo checked, the OS detected, the minion installed from the "
                  "configured source, enrolled with a one-time token and its key accepted by the fingerprint it "
                  "reports. A host that fails stops with its reason; the others go on.")
    submit_label = "Install"

    def may_create(self):
        return salt_install_job.may_install(self.request.user)

    def form_kwargs(self):
        return {"user": self.request.user}

    def get_initial(self):
        chosen = [pk for pk in self.request.GET.getlist("nodes") if pk.isdigit()][:salt_install_job.MAX_HOSTS]
        return {"portal_url": self.request.build_absolute_uri("/").rstrip("/"), "nodes": chosen}

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            job = salt_install_job.start_batch_install(
                self.request.user, nodes=list(data["nodes"]),
                inventory=importer.read_upload({"file": data["inventory"]}) if data["inventory"] else None,
                master=data["master"], minion_id=data["minion_id"], parallel=data["parallel"],
                portal_url=data["portal_url"])
        except ServiceError as exc:
            if exc.status == 403 and not isinstance(exc, InvalidInput):
                raise PermissionDenied(exc.message)
            add_service_errors(form, _inventory_errors(exc))
            return self.render_to_response(self.get_context_data(form=form), status=exc.status)
        messages.success(self.request, f"Installing Salt minions on {len(job.params['nodes'])} host(s): job #{job.pk}.")
        return redirect(reverse("jobs:detail", args=[job.pk]))

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        try:
            source = minion_source()
        except Exception as exc:  # a wrong setting is shown, not a 500
            source = f"misconfigured: {exc}"
        ctx.update(multipart=True, cancel_url=reverse("nodes:salt-minions"), source=source, steps=list(Step),
                   parallel_setting=settings.SALT_INSTALL_PARALLEL)
        return ctx


def _inventory_errors(exc: ServiceError) -> ServiceError:
    """The import's per-row errors ({"rows": [...]}) read as one message on the inventory field."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, dict) and ("file" in errors or "format" in errors):
        return InvalidInput({"inventory": [*errors.get("file", []), *errors.get("format", [])]})
    if isinstance(errors, dict) and "rows" in errors:
        rows = "; ".join(f"row {r['row']} ({r.get('name') or '?'}): " +
                         ", ".join(f"{k}: {' '.join(map(str, v))}" for k, v in r["errors"].items())
                         for r in errors["rows"][:10])
        return InvalidInput({"inventory": [rows]})
    return exc
