"""Salt in the admin: masters and minion groups (writes through apps.nodes.salt_masters), minions
(key operations and runs as actions, through apps.nodes.salt_services: policy-checked, a refusal
audited and shown as a message), Salt runs and enrollments (read only), and the node action
"Enroll in Salt". Imported by apps/nodes/admin.py."""
from __future__ import annotations

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from apps.core.admin_mixins import ReadOnlyModelAdmin
from apps.core.errors import ServiceError
from apps.rbac.admin_base import RestrictedModelAdmin

from . import salt_enrollment, salt_masters, salt_services
from .salt_models import EnrollmentState, SaltEnrollment, SaltMaster, SaltMinion, SaltMinionGroup, SaltRun


@admin.register(SaltMaster)
class SaltMasterAdmin(RestrictedModelAdmin):
    list_display = ["name", "api_url", "master_address", "fingerprint", "refreshed_at", "refresh_error"]
    search_fields = ["name", "api_url"]
    fields = ["name", "api_url", "eauth", "credential", "ca_certificate", "master_address", "public_key",
              "fingerprint", "hmac_secret", "refreshed_at", "refresh_error"]
    readonly_fields = ["refreshed_at", "refresh_error"]
    choice_actions = {"credential": "use", "hmac_secret": "use"}

    actions = ["refresh"]

    @admin.action(description="Refresh keys and pings", permissions=["change"])
    def refresh(self, request, queryset):
        from apps.jobs.services import start_job

        last = None
        for master in queryset:
            try:
                last = start_job(request.user, "salt.refresh", {"master": master.pk})
            except ServiceError as exc:
                self.message_user(request, f"{master}: {exc.message}", messages.ERROR)
        return redirect("jobs:detail", pk=last.pk) if last else None

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "fingerprint" in form.base_fields:  # computed from the public key when left empty
            form.base_fields["fingerprint"].required = False
        return form

    def create_through_service(self, request, form):
        return salt_masters.create_master(request.user, **form.cleaned_data)

    def update_through_service(self, request, original, changes, form):
        return salt_masters.update_master(request.user, original, **changes)

    def delete_through_service(self, request, obj):
        salt_masters.delete_master(request.user, obj)


@admin.register(SaltMinionGroup)
class SaltMinionGroupAdmin(RestrictedModelAdmin):
    list_display = ["name", "master", "description"]
    search_fields = ["name"]
    filter_horizontal = ["minions"]

    def create_through_service(self, request, form):
        return salt_masters.save_group(request.user, None, **form.cleaned_data)

    def update_through_service(self, request, original, changes, form):
        data = {k: form.cleaned_data[k] for k in ("master", "name", "description", "minions")}
        return salt_masters.save_group(request.user, original, **data)

    def delete_through_service(self, request, obj):
        salt_masters.delete_group(request.user, obj)


@admin.register(SaltMinion)
class SaltMinionAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["minion_id", "node", "key_state", "key_fingerprint", "salt_version", "last_ping_at", "master"]
    list_filter = ["key_state", "master"]
    search_fields = ["minion_id", "node__name"]
    actions = ["accept_reported", "reject_keys", "ping", "read_grains", "apply_slurm_node"]

    def get_queryset(self, request):
        return salt_services.visible_minions(request.user)

    # Actions are offered by model permission (the services check each minion again).
    def has_key_permission(self, request):
        return request.user.has_perm("nodes.change_saltminion")

    def has_run_permission(self, request):
        return request.user.has_perm("nodes.run_saltminion")

    def _each(self, request, queryset, operation, done_word):
        done = 0
        for minion in queryset:
            try:
                operation(minion)
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"{minion}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done_word} {done} minion key(s).")

    @admin.action(description="Accept keys by the fingerprint their enrollment reported", permissions=["key"])
    def accept_reported(self, request, queryset):
        def accept(minion):
            enrollment = (SaltEnrollment.objects.filter(master=minion.master, minion_id=minion.minion_id,
                                                        state=EnrollmentState.REPORTED).order_by("-created_at").first())
            if enrollment is None:
                raise ServiceError("no fingerprint was reported for it: accept it on its page with the fingerprint.")
            salt_services.accept_key(request.user, minion, enrollment.reported_fingerprint, path="admin")
            salt_enrollment.finish(enrollment, ok=True, detail="accepted in the admin", actor=request.user)
        self._each(request, queryset, accept, "Accepted")

    @admin.action(description="Reject keys", permissions=["key"])
    def reject_keys(self, request, queryset):
        self._each(request, queryset, lambda m: salt_services.reject_key(request.user, m, path="admin"), "Rejected")

    def _run(self, request, queryset, fun, arg=()):
        try:
            job = salt_services.start_run(request.user, list(queryset.select_related("master")), fun, arg,
                                          path="admin")
        except ServiceError as exc:  # a refusal is already audited: shown, and the audit entry kept
            self.message_user(request, exc.message, messages.ERROR)
            return None
        return redirect("jobs:detail", pk=job.pk)

    @admin.action(description="Ping", permissions=["run"])
    def ping(self, request, queryset):
        return self._run(request, queryset, "test.ping")

    @admin.action(description="Read grains (hardware)", permissions=["run"])
    def read_grains(self, request, queryset):
        return self._run(request, queryset, "grains.items")

    @admin.action(description="Apply the slurm.node state", permissions=["run"])
    def apply_slurm_node(self, request, queryset):
        return self._run(request, queryset, "state.apply", ["slurm.node"])


@admin.register(SaltRun)
class SaltRunAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["started_at", "fun", "jid", "target", "ok", "requested_by", "job"]
    list_filter = ["fun", "ok"]
    search_fields = ["jid", "fun"]


@admin.register(SaltEnrollment)
class SaltEnrollmentAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["created_at", "minion_id", "node", "method", "state", "reported_fingerprint", "created_by"]
    list_filter = ["state", "method"]
    search_fields = ["minion_id", "node__name"]
    exclude = ["report_hash"]


def enroll_in_salt(modeladmin, request, queryset):
    """Node admin action: one-time tokens and the bootstrap command, shown once."""
    issued = []
    for node in queryset:
        try:
            out = salt_enrollment.issue(request.user, node, portal_url=request.build_absolute_uri("/"))
        except ServiceError as exc:
            modeladmin.message_user(request, f"{node}: {exc.message}", messages.ERROR)
            continue
        issued.append({"node": node, "token": out["token"], "expires_at": out["expires_at"],
                       "minion_id": out["enrollment"].minion_id, "command": out["command"]})
    if not issued:
        return None
    response = TemplateResponse(request, "nodes/salt/admin_enroll_tokens.html",
                                {**modeladmin.admin_site.each_context(request), "issued": issued,
                                 "title": "Salt enrollment tokens"})
    response["Cache-Control"] = "no-store"
    return response


enroll_in_salt.short_description = "Enroll in Salt (one-time tokens)"


def install_salt_minions(modeladmin, request, queryset):
    """Node admin action: the batch minion install over SSH on the chosen nodes (the defaults of the
    page: minion id = node name, the only master, the setting's parallelism); the job page follows it."""
    from . import salt_install_job

    try:
        job = salt_install_job.start_batch_install(request.user, nodes=list(queryset.values_list("pk", flat=True)),
                                                   portal_url=request.build_absolute_uri("/"))
    except ServiceError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
        return None
    return redirect("jobs:detail", pk=job.pk)


install_salt_minions.short_description = "Install Salt minions over SSH (batch)"
