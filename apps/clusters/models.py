"""Slurm clusters: the cluster (managed or external), its partitions, its nodes (each linked to
the one Node row of that machine when the portal knows it), its jobs and job templates.

The portal reaches a cluster only through its controller (and login) node, over the nodes app's
SSH layer with the vault's credentials; nothing here holds an address or a secret of its own.
"""
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from apps.nodes.validators import validate_node_name

from .validators import (validate_cluster_name, validate_gres_file_pattern, validate_slurm_name,
                         validate_slurm_time)


class ClusterKind(models.TextChoices):
    MANAGED = "managed", "Managed"  # the portal renders and applies slurm.conf / gres.conf
    EXTERNAL = "external", "External"  # an existing cluster the portal reads and operates


class ClusterStatus(models.TextChoices):
    NEW = "new", "New"
    DISCOVERING = "discovering", "Discovering"
    ONLINE = "online", "Online"
    DEGRADED = "degraded", "Degraded"  # controller answers, some nodes down or drained
    UNREACHABLE = "unreachable", "Unreachable"
    ERROR = "error", "Error"


class Cluster(models.Model):
    name = models.CharField(max_length=63, unique=True, validators=[validate_cluster_name])
    kind = models.CharField(max_length=16, choices=ClusterKind.choices, default=ClusterKind.EXTERNAL)
    description = models.CharField(max_length=300, blank=True)
    project = models.ForeignKey("rbac.Project", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="clusters")
    controller = models.ForeignKey("nodes.Node", on_delete=models.PROTECT, related_name="controls_clusters",
                                   help_text="The node slurmctld runs on; Slurm commands run there over SSH.")
    login_node = models.ForeignKey("nodes.Node", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="login_for_clusters",
                                   help_text="Where jobs are submitted and output is read (default: the controller).")
    # What the portal must never touch on a cluster it did not build (the seed's reuse options).
    reuse_config = models.BooleanField(default=True, help_text="Never write this cluster's slurm.conf.")
    reuse_munge = models.BooleanField(default=True, help_text="Never distribute a munge key.")
    reuse_database = models.BooleanField(default=True, help_text="Never change accounting (sacctmgr).")
    # Managed clusters: where the configuration lives and how slurmctld is restarted.
    base_config_path = models.CharField(max_length=300, blank=True,
                                        help_text="Template slurm.conf (no NodeName/PartitionName lines) on the "
                                                  "portal's machine; default: the SLURM_BASE_CONFIG_PATH setting.")
    conf_path = models.CharField(max_length=300, default="/etc/slurm/slurm.conf",
                                 help_text="slurm.conf on the controller (gres.conf beside it).")
    restart_command = models.JSONField(default=list, blank=True,
                                       help_text="argv that restarts slurmctld on the controller "
                                                 "(default: sudo -n systemctl restart slurmctld).")
    slurmd_restart_command = models.JSONField(default=list, blank=True,
                                              help_text="argv that restarts slurmd, run on the node's own host "
                                                        "by the health job (default: sudo -n systemctl restart "
                                                        "slurmd).")
    gres_file_pattern = models.CharField(max_length=300, default="/dev/nvidia{index}",
                                         validators=[validate_gres_file_pattern],
                                         help_text="gres.conf File= of each GPU: {index} is the GPU's index, "
                                                   "{node} the Slurm node name (e.g. /dev/nvidia{index}).")
    slurm_version = models.CharField(max_length=32, blank=True)
    slurm_cluster_name = models.CharField(max_length=63, blank=True, help_text="ClusterName in slurm.conf.")
    config_snapshot = models.JSONField(default=dict, blank=True, help_text="`scontrol show config` at discovery.")
    status = models.CharField(max_length=16, choices=ClusterStatus.choices, default=ClusterStatus.NEW,
                              db_index=True)
    status_reason = models.CharField(max_length=500, blank=True)
    discovered_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="Node state counts, queue length (last sync).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    rbac_project_field = "project"

    class Meta:
        ordering = ["name"]
        permissions = [
            ("manage_cluster", "Can change node states, apply configuration and sync accounting"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("clusters:detail", args=[self.pk])

    @property
    def submit_node(self):
        return self.login_node or self.controller


class Partition(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="partitions")
    name = models.CharField(max_length=63, validators=[validate_slurm_name])
    nodes = models.JSONField(default=list, blank=True, help_text="Slurm node names (expanded).")
    is_default = models.BooleanField(default=False)
    max_time = models.CharField(max_length=32, default="UNLIMITED", validators=[validate_slurm_time],
                                help_text="Slurm time: UNLIMITED, minutes, or [days-]hours:minutes:seconds.")
    state = models.CharField(max_length=16, default="UP")
    allow_accounts = models.JSONField(default=list, blank=True, help_text="Empty: all.")
    allow_qos = models.JSONField(default=list, blank=True, help_text="Empty: all.")
    options = models.JSONField(default=dict, blank=True, help_text="Other PartitionName keys (Key: Value).")
    managed = models.BooleanField(default=True, help_text="Rendered into slurm.conf (managed clusters).")

    rbac_project_field = "cluster__project"

    class Meta:
        ordering = ["cluster", "name"]
        constraints = [models.UniqueConstraint(fields=["cluster", "name"], name="partition_unique_name")]

    def __str__(self):
        return f"{self.cluster.name}/{self.name}"


class ClusterNode(models.Model):
    """A Slurm node of a cluster. `node` is the portal's Node of that machine (a machine is in at
    most one cluster); empty when the portal does not know the machine (external clusters)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="members")
    node = models.OneToOneField("nodes.Node", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="cluster_member")
    slurm_name = models.CharField(max_length=63, validators=[validate_node_name])
    address = models.CharField(max_length=253, blank=True, help_text="NodeAddr (default: the node's address).")
    cpus = models.PositiveIntegerField(default=1)
    sockets = models.PositiveIntegerField(default=1)
    cores_per_socket = models.PositiveIntegerField(default=1)
    threads_per_core = models.PositiveIntegerField(default=1)
    real_memory_mb = models.PositiveBigIntegerField(default=0)
    gres = models.CharField(max_length=200, blank=True, help_text="As Slurm shows it, e.g. gpu:4.")
    gpu_count = models.PositiveIntegerField(default=0)
    features = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=64, blank=True, help_text="Slurm state with flags, e.g. IDLE+DRAIN.")
    reason = models.CharField(max_length=300, blank=True)
    drained_by_portal = models.BooleanField(default=False,
                                            help_text="Drained for failed GPU health: resumed when healthy again.")
    alloc_cpus = models.PositiveIntegerField(default=0)
    alloc_gpus = models.PositiveIntegerField(default=0)
    managed = models.BooleanField(default=True, help_text="Rendered into slurm.conf (managed clusters).")
    updated_at = models.DateTimeField(auto_now=True)

    rbac_project_field = "cluster__project"

    class Meta:
        ordering = ["cluster", "slurm_name"]
        constraints = [models.UniqueConstraint(fields=["cluster", "slurm_name"], name="clusternode_unique_name")]

    def __str__(self):
        return f"{self.cluster.name}/{self.slurm_name}"

    @property
    def base_state(self) -> str:
        return self.state.split("+")[0].rstrip("*~#!%$@^-").upper()

    @property
    def flags(self) -> list[str]:
        return [flag.upper() for flag in self.state.split("+")[1:]]


class SlurmJobState(models.TextChoices):
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    SUSPENDED = "SUSPENDED", "Suspended"
    COMPLETING = "COMPLETING", "Completing"
    COMPLETED = "COMPLETED", "Completed"
    CANCELLED = "CANCELLED", "Cancelled"
    FAILED = "FAILED", "Failed"
    TIMEOUT = "TIMEOUT", "Timeout"
    NODE_FAIL = "NODE_FAIL", "Node failure"
    PREEMPTED = "PREEMPTED", "Preempted"
    OUT_OF_MEMORY = "OUT_OF_MEMORY", "Out of memory"
    BOOT_FAIL = "BOOT_FAIL", "Boot failure"
    DEADLINE = "DEADLINE", "Deadline"
    REQUEUED = "REQUEUED", "Requeued"
    UNKNOWN = "UNKNOWN", "Unknown"


ACTIVE_JOB_STATES = (SlurmJobState.PENDING, SlurmJobState.RUNNING, SlurmJobState.SUSPENDED,
                     SlurmJobState.COMPLETING, SlurmJobState.REQUEUED)


class SlurmJob(models.Model):
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="slurm_jobs")
    job_id = models.CharField(max_length=32, help_text="Slurm's job id ('41', or '41_3' for an array task).")
    name = models.CharField(max_length=200, blank=True)
    user = models.CharField(max_length=64, blank=True, help_text="Slurm user.")
    account = models.CharField(max_length=64, blank=True)
    partition = models.CharField(max_length=63, blank=True)
    qos = models.CharField(max_length=63, blank=True)
    state = models.CharField(max_length=16, choices=SlurmJobState.choices, default=SlurmJobState.PENDING,
                             db_index=True)
    reason = models.CharField(max_length=300, blank=True)
    exit_code = models.CharField(max_length=16, blank=True)
    nodes = models.JSONField(default=list, blank=True, help_text="Slurm node names (expanded).")
    num_nodes = models.PositiveIntegerField(default=1)
    cpus = models.PositiveIntegerField(default=1)
    memory_mb = models.PositiveBigIntegerField(default=0)
    gpus = models.PositiveIntegerField(default=0)
    gpu_indexes = models.JSONField(default=dict, blank=True, help_text="{slurm node: [GPU index, ...]} it holds.")
    time_limit_min = models.PositiveIntegerField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    stdout_path = models.CharField(max_length=500, blank=True)
    work_dir = models.CharField(max_length=500, blank=True)
    # Jobs submitted through the portal: who, for which project, and with what.
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="slurm_jobs")
    project = models.ForeignKey("rbac.Project", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="slurm_jobs")
    script = models.TextField(blank=True)
    gpu_efficiency = models.JSONField(default=dict, blank=True,
                                      help_text="Per-job GPU utilization and memory (from GPU telemetry).")
    synced_at = models.DateTimeField(null=True, blank=True)

    rbac_project_field = "project"
    rbac_owner_field = "submitted_by"

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["cluster", "job_id"], name="slurmjob_unique_id")]
        indexes = [models.Index(fields=["cluster", "state"], name="slurmjob_cluster_state")]
        permissions = [("cancel_slurmjob", "Can cancel, hold, release, requeue and signal Slurm jobs")]

    def __str__(self):
        return f"{self.cluster.name}:{self.job_id}"

    def get_absolute_url(self):
        return reverse("clusters:job-detail", args=[self.pk])

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_JOB_STATES


class JobTemplate(models.Model):
    """A saved submit form: what a team runs again and again."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    project = models.ForeignKey("rbac.Project", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="job_templates")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="job_templates")
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="job_templates")
    partition = models.CharField(max_length=63, blank=True)
    account = models.CharField(max_length=64, blank=True)
    nodes = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(10_000)])
    cpus = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(100_000)])
    memory_mb = models.PositiveBigIntegerField(default=0)
    gpus = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(1024)])
    time_limit_min = models.PositiveIntegerField(default=60, validators=[MinValueValidator(1)])
    script = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    rbac_project_field = "project"
    rbac_owner_field = "owner"

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="jobtemplate_unique_name")]

    def __str__(self):
        return self.name


class SlurmUser(models.Model):
    """Which Slurm (Unix) user a portal user submits as: on one cluster, or everywhere (no cluster).
    Jobs never run as root: the mapping refuses it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slurm_users")
    cluster = models.ForeignKey(Cluster, null=True, blank=True, on_delete=models.CASCADE, related_name="user_maps")
    username = models.CharField(max_length=32, validators=[validate_slurm_name])

    rbac_owner_field = "user"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "cluster"], name="slurmuser_unique"),
                       models.UniqueConstraint(fields=["user"], condition=models.Q(cluster=None),
                                               name="slurmuser_unique_default")]

    def __str__(self):
        return f"{self.user} -> {self.username}" + (f" on {self.cluster}" if self.cluster_id else "")


class ProjectAccount(models.Model):
    """A project's Slurm account on a cluster and the limits Slurm itself enforces for it
    (associations and a QOS written through sacctmgr). Empty limits mean none."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="accounts")
    project = models.ForeignKey("rbac.Project", on_delete=models.CASCADE, related_name="slurm_accounts")
    account = models.CharField(max_length=64, validators=[validate_slurm_name])
    gpus_per_job = models.PositiveIntegerField(null=True, blank=True, help_text="MaxTRESPerJob gres/gpu.")
    gpu_minutes = models.PositiveBigIntegerField(null=True, blank=True, help_text="GrpTRESMins gres/gpu.")
    max_running_jobs_per_user = models.PositiveIntegerField(null=True, blank=True, help_text="MaxJobs.")
    max_wall_min = models.PositiveIntegerField(null=True, blank=True, help_text="MaxWall, in minutes.")
    allowed_partitions = models.JSONField(default=list, blank=True, help_text="Empty: every partition.")
    allowed_qos = models.JSONField(default=list, blank=True, help_text="Empty: the cluster's default.")
    drift = models.JSONField(default=list, blank=True, help_text="sacctmgr commands the last check found missing.")
    checked_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    rbac_project_field = "project"

    class Meta:
        ordering = ["cluster", "account"]
        constraints = [models.UniqueConstraint(fields=["cluster", "account"], name="projectaccount_unique_account"),
                       models.UniqueConstraint(fields=["cluster", "project"], name="projectaccount_unique_project")]

    def __str__(self):
        return f"{self.cluster.name}/{self.account}"


class ClusterSample(models.Model):
    """A cluster's figures at one sync: what the cluster page charts over time (nodes by state,
    queue length, GPUs allocated). One row per sync; old rows are pruned (CLUSTER_SAMPLE_RETENTION_DAYS)."""

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="samples")
    ts = models.DateTimeField()
    nodes_idle = models.PositiveIntegerField(default=0)
    nodes_busy = models.PositiveIntegerField(default=0, help_text="allocated or mixed")
    nodes_drained = models.PositiveIntegerField(default=0, help_text="drained or draining")
    nodes_down = models.PositiveIntegerField(default=0, help_text="down, error or not responding")
    queue_length = models.PositiveIntegerField(null=True, blank=True)
    gpus = models.PositiveIntegerField(default=0)
    gpus_allocated = models.PositiveIntegerField(default=0)

    rbac_project_field = "cluster__project"

    class Meta:
        ordering = ["cluster", "ts"]
        indexes = [models.Index(fields=["cluster", "ts"], name="clustersample_cluster_ts")]
