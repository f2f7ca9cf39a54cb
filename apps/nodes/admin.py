from django.contrib import admin, messages
from django.shortcuts import redirect

from apps.core.admin_mixins import ReadOnlyModelAdmin
from apps.core.errors import ServiceError
from apps.jobs import services as jobs
from apps.rbac.admin_base import RestrictedModelAdmin, RestrictedStackedInline, RestrictedTabularInline

from . import salt_admin, services
from .models import Bmc, HostKey, Node, NodeEvent


class HostKeyInline(ReadOnlyModelAdmin, RestrictedTabularInline):
    model = HostKey
    fields = ["key_type", "fingerprint", "state", "first_seen", "decided_by", "decided_at"]
    readonly_fields = fields
    extra = 0


class BmcInline(RestrictedStackedInline):
    """Attached or replaced through services.set_bmc (manage on the node, use on the credential)."""

    model = Bmc
    extra = 0
    readonly_fields = ["power_state", "health", "polled_at", "poll_error"]
    parent_action = "manage"
    choice_actions = {"credential": "use"}
    can_delete = False  # no service removes a BMC yet

    def save_through_services(self, request, parent, formset):
        for bmc in [*formset.new_objects, *(obj for obj, _ in formset.changed_objects)]:
            services.set_bmc(request.user, parent, driver=bmc.driver, address=bmc.address,
                             credential=bmc.credential.name, port=bmc.port, system_id=bmc.system_id,
                             verify_tls=bmc.verify_tls)


@admin.register(Node)
class NodeAdmin(RestrictedModelAdmin):
    list_display = ["name", "address", "ssh_port", "state", "project", "last_seen"]
    list_filter = ["state", "project", "bmc__driver"]
    search_fields = ["name", "address"]
    inlines = [BmcInline, HostKeyInline]
    readonly_fields = ["state_reason", "last_seen", "facts", "facts_updated_at"]
    actions = ["test_connection", "probe", "approve_pending_keys", salt_admin.enroll_in_salt,
               salt_admin.install_salt_minions]
    change_list_template = "admin/nodes/node/change_list.html"

    def get_urls(self):
        from django.urls import path

        from .views import NodeImportView

        # The same import page, inside the admin (all-or-nothing, per-row errors).
        view = self.admin_site.admin_view(NodeImportView.as_view(template_name="nodes/node_import.html"))
        return [path("import/", view, name="nodes_node_import")] + super().get_urls()

    choice_actions = {"ssh_credential": "use"}

    def get_queryset(self, request):
        return services.visible_nodes(request.user)

    def create_through_service(self, request, form):
        return services.create_node(request.user, **form.cleaned_data)

    def update_through_service(self, request, original, changes, form):
        return services.update_node(request.user, original, **changes)

    def delete_through_service(self, request, obj):
        services.delete_node(request.user, obj)

    def _start(self, request, queryset, kind):
        try:
            job = jobs.start_job(request.user, kind, {"nodes": list(queryset.values_list("pk", flat=True))})
        except ServiceError as exc:
            self.message_user(request, exc.message if hasattr(exc, "message") else str(exc), messages.ERROR)
            return None
        return redirect("jobs:detail", pk=job.pk)

    @admin.action(description="Test SSH connection")
    def test_connection(self, request, queryset):
        return self._start(request, queryset, "nodes.test_connection")

    @admin.action(description="Probe facts")
    def probe(self, request, queryset):
        return self._start(request, queryset, "nodes.probe")

    @admin.action(description="Approve pending host keys")
    def approve_pending_keys(self, request, queryset):
        done = 0
        for key in HostKey.objects.filter(node__in=queryset, state="pending").select_related("node"):
            try:
                services.decide_host_key(request.user, key, "trusted")
                done += 1
            except ServiceError as exc:
                self.message_user(request, f"{key.node}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Approved {done} host key(s).")


@admin.register(NodeEvent)
class NodeEventAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["timestamp", "node", "kind", "message"]
    list_filter = ["kind"]
    search_fields = ["node__name", "message"]
