from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from apps.core.admin_mixins import ReadOnlyModelAdmin
from apps.rbac.admin_base import RestrictedModelAdmin

from . import services
from .models import Gpu, GpuEvent, GpuRollup1h, GpuRollup1m, GpuSample, NodeSample


class CappedCountPaginator(Paginator):
    """Counting a day of samples costs seconds: pages of a series count at most CAP rows."""

    CAP = 10_000

    @cached_property
    def count(self):
        return len(self.object_list[: self.CAP].values_list("pk", flat=True))


@admin.register(Gpu)
class GpuAdmin(RestrictedModelAdmin):
    list_display = ["__str__", "uuid", "model", "health", "present", "last_seen"]
    list_filter = ["health", "present", "model"]
    search_fields = ["uuid", "model", "node__name"]
    list_select_related = ["node"]
    fields = ["node", "index", "uuid", "model", "memory_total_mib", "driver_version", "cuda_version", "pci_bus_id",
              "mig_mode", "mig_devices", "power_limit_w", "health", "health_reason", "health_changed_at", "labels",
              "present", "last_seen", "last_sample", "last_sample_at", "thermal_throttle_since"]
    readonly_fields = [f for f in fields if f not in ("health", "health_reason", "labels")]

    def has_add_permission(self, request):
        return False  # GPUs come from inventory (agent or agentless), never typed in

    def update_through_service(self, request, original, changes, form):
        return services.update_gpu(request.user, original, **changes)

    def delete_through_service(self, request, obj):
        services.delete_gpu(request.user, obj)


class SeriesAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 100


@admin.register(GpuEvent)
class GpuEventAdmin(ReadOnlyModelAdmin, RestrictedModelAdmin):
    list_display = ["ts", "gpu", "kind", "xid", "message"]
    list_filter = ["kind"]
    search_fields = ["message", "gpu__uuid", "gpu__node__name"]
    list_select_related = ["gpu__node"]


@admin.register(GpuSample)
class GpuSampleAdmin(SeriesAdmin):
    list_display = ["ts", "gpu", "utilization_pct", "memory_used_mib", "temperature_c", "power_w"]
    list_select_related = ["gpu__node"]
    search_fields = ["gpu__uuid"]


@admin.register(NodeSample)
class NodeSampleAdmin(SeriesAdmin):
    list_display = ["ts", "node", "cpu_pct", "load1", "memory_used_bytes", "net_rx_bps", "net_tx_bps"]
    list_select_related = ["node"]
    search_fields = ["node__name"]


@admin.register(GpuRollup1m)
class GpuRollup1mAdmin(SeriesAdmin):
    list_display = ["bucket", "gpu", "samples", "utilization_pct_avg", "temperature_c_max", "power_w_avg"]
    list_select_related = ["gpu__node"]


@admin.register(GpuRollup1h)
class GpuRollup1hAdmin(SeriesAdmin):
    list_display = ["bucket", "gpu", "samples", "utilization_pct_avg", "temperature_c_max", "power_w_avg"]
    list_select_related = ["gpu__node"]


from . import admin_agent  # noqa: E402,F401  (node agent credentials)
