"""GPUs hang off nodes; telemetry samples hang off GPUs and nodes.

GpuSample and NodeSample are time series. On PostgreSQL they are declaratively partitioned by
day (apps/gpus/partitions.py creates partitions ahead and drops them past retention); on SQLite
they are plain tables with the same columns. Their database primary key on PostgreSQL is
(id, ts), as partitioning requires; Django addresses rows by `id` alone, which stays unique
(one sequence). Charts read the 1-minute and 1-hour rollups (apps/gpus/rollups.py).
"""
from django.db import models
from django.urls import reverse

from apps.nodes.validators import validate_labels


class GpuHealth(models.TextChoices):
    OK = "ok", "OK"
    DEGRADED = "degraded", "Degraded"
    FAILED = "failed", "Failed"
    MAINTENANCE = "maintenance", "Maintenance"


class MigMode(models.TextChoices):
    ENABLED = "Enabled", "Enabled"
    DISABLED = "Disabled", "Disabled"


class Gpu(models.Model):
    node = models.ForeignKey("nodes.Node", on_delete=models.CASCADE, related_name="gpus")
    index = models.PositiveSmallIntegerField(help_text="the GPU's index on its node (nvidia-smi -i)")
    uuid = models.CharField(max_length=100, unique=True)
    model = models.CharField(max_length=200, blank=True, db_index=True)
    memory_total_mib = models.PositiveIntegerField(null=True, blank=True)
    driver_version = models.CharField(max_length=50, blank=True)
    cuda_version = models.CharField(max_length=50, blank=True)
    pci_bus_id = models.CharField(max_length=50, blank=True)
    mig_mode = models.CharField(max_length=8, choices=MigMode.choices, blank=True)
    mig_devices = models.JSONField(default=list, blank=True)
    power_limit_w = models.FloatField(null=True, blank=True)
    health = models.CharField(max_length=12, choices=GpuHealth.choices, default=GpuHealth.OK, db_index=True)
    health_reason = models.CharField(max_length=300, blank=True)
    health_changed_at = models.DateTimeField(null=True, blank=True)
    labels = models.JSONField(default=list, blank=True, validators=[validate_labels])
    present = models.BooleanField(default=True, db_index=True,
                                  help_text="False once the GPU vanished from its node's inventory")
    last_seen = models.DateTimeField(null=True, blank=True)
    # The newest sample's values (what a list row and the status show without reading the series).
    last_sample = models.JSONField(default=dict, blank=True)
    last_sample_at = models.DateTimeField(null=True, blank=True)
    # Since when the GPU reports thermal slowdown without a break (the degraded rule's clock).
    thermal_throttle_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    rbac_project_field = "node__project"

    class Meta:
        verbose_name = "GPU"
        ordering = ["node__name", "index", "id"]
        constraints = [
            # Two present GPUs never share an index on a node; vanished ones keep theirs as history.
            models.UniqueConstraint(fields=["node", "index"], condition=models.Q(present=True),
                                    name="gpu_present_index_unique"),
        ]
        permissions = [("push_telemetry", "Can push telemetry for a node")]

    def __str__(self):
        return f"{self.node.name}/gpu{self.index}" if self.node_id else f"gpu{self.index}"

    def get_absolute_url(self):
        return reverse("gpus:detail", args=[self.pk])  # the page (the API names its own URL)


class GpuEventKind(models.TextChoices):
    DISCOVERED = "discovered", "Discovered"
    MISSING = "missing", "Missing from inventory"
    RETURNED = "returned", "Back in inventory"
    UUID_CHANGED = "uuid_changed", "UUID changed at an index"
    MOVED = "moved", "Moved to another node"
    XID = "xid", "XID error"
    HEALTH = "health", "Health changed"


class GpuEvent(models.Model):
    """What happened to a GPU: inventory changes, XID errors, health changes."""

    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, related_name="events")
    ts = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=16, choices=GpuEventKind.choices)
    xid = models.PositiveIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)

    rbac_project_field = "gpu__node__project"

    class Meta:
        ordering = ["-ts", "-id"]
        indexes = [models.Index(fields=["gpu", "-ts"], name="gpuevent_gpu_ts")]

    def __str__(self):
        return f"{self.gpu} {self.kind}: {self.message}"


class GpuSample(models.Model):
    """One reading of one GPU (docs/telemetry-record.md). Partitioned by day on PostgreSQL."""

    id = models.BigAutoField(primary_key=True)
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    ts = models.DateTimeField()
    utilization_pct = models.FloatField(null=True, blank=True)
    memory_used_mib = models.FloatField(null=True, blank=True)
    temperature_c = models.FloatField(null=True, blank=True)
    power_w = models.FloatField(null=True, blank=True)
    sm_clock_mhz = models.FloatField(null=True, blank=True)
    ecc_corrected = models.BigIntegerField(null=True, blank=True)
    ecc_uncorrected = models.BigIntegerField(null=True, blank=True)
    row_remap_failure = models.BooleanField(null=True, blank=True)
    throttle_reasons = models.JSONField(default=list, blank=True)

    rbac_project_field = "gpu__node__project"

    class Meta:
        indexes = [models.Index(fields=["gpu", "ts"], name="gpusample_gpu_ts")]

    def __str__(self):
        return f"GPU {self.gpu_id} at {self.ts:%Y-%m-%d %H:%M:%S}"


class NodeSample(models.Model):
    """One reading of a node's CPU, memory, network and disks. Partitioned by day on PostgreSQL."""

    id = models.BigAutoField(primary_key=True)
    node = models.ForeignKey("nodes.Node", on_delete=models.CASCADE, db_constraint=False, db_index=False,
                             related_name="+")
    ts = models.DateTimeField()
    cpu_pct = models.FloatField(null=True, blank=True)
    load1 = models.FloatField(null=True, blank=True)
    memory_used_bytes = models.FloatField(null=True, blank=True)
    memory_total_bytes = models.FloatField(null=True, blank=True)
    net_rx_bps = models.FloatField(null=True, blank=True)
    net_tx_bps = models.FloatField(null=True, blank=True)
    disk_read_bps = models.FloatField(null=True, blank=True)
    disk_write_bps = models.FloatField(null=True, blank=True)

    rbac_project_field = "node__project"

    class Meta:
        indexes = [models.Index(fields=["node", "ts"], name="nodesample_node_ts")]

    def __str__(self):
        return f"node {self.node_id} at {self.ts:%Y-%m-%d %H:%M:%S}"


# The series a GPU rollup keeps (average and maximum of each), in the order charts list them.
GPU_METRICS = ("utilization_pct", "memory_used_mib", "temperature_c", "power_w", "sm_clock_mhz")


class GpuRollupBase(models.Model):
    gpu = models.ForeignKey(Gpu, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="+")
    bucket = models.DateTimeField()
    samples = models.PositiveIntegerField(default=0)
    utilization_pct_avg = models.FloatField(null=True)
    utilization_pct_max = models.FloatField(null=True)
    memory_used_mib_avg = models.FloatField(null=True)
    memory_used_mib_max = models.FloatField(null=True)
    temperature_c_avg = models.FloatField(null=True)
    temperature_c_max = models.FloatField(null=True)
    power_w_avg = models.FloatField(null=True)
    power_w_max = models.FloatField(null=True)
    sm_clock_mhz_avg = models.FloatField(null=True)
    sm_clock_mhz_max = models.FloatField(null=True)

    rbac_project_field = "gpu__node__project"

    class Meta:
        abstract = True

    def __str__(self):
        return f"GPU {self.gpu_id} at {self.bucket:%Y-%m-%d %H:%M}"


class GpuRollup1m(GpuRollupBase):
    class Meta:
        verbose_name = "GPU 1-minute rollup"
        constraints = [models.UniqueConstraint(fields=["gpu", "bucket"], name="gpurollup1m_gpu_bucket")]


class GpuRollup1h(GpuRollupBase):
    class Meta:
        verbose_name = "GPU 1-hour rollup"
        constraints = [models.UniqueConstraint(fields=["gpu", "bucket"], name="gpurollup1h_gpu_bucket")]


from .models_agent import NodeCredential, NodeCredentialState  # noqa: E402,F401  (the agent credential)
