"""Salt in the portal (DESIGN.md: the nodes app owns Salt minions): masters reached through
salt-api, their minions (key state and fingerprint, version, last ping, hardware from grains),
minion groups, node enrollments and the history of Salt runs. Imported by models.py."""
from django.conf import settings
from django.db import models
from django.urls import reverse

from .salt.results import KeyState


class SaltKeyState(models.TextChoices):
    ACCEPTED = KeyState.ACCEPTED.value, "Accepted"
    PENDING = KeyState.PENDING.value, "Pending"
    REJECTED = KeyState.REJECTED.value, "Rejected"
    DENIED = KeyState.DENIED.value, "Denied"
    ABSENT = "absent", "No key on the master"


class SaltMaster(models.Model):
    name = models.CharField(max_length=63, unique=True)
    api_url = models.CharField(max_length=300, help_text="salt-api (rest_cherrypy) base URL, https://host:port")
    eauth = models.CharField(max_length=32, default="pam", help_text="salt-api eauth backend (pam, file, ldap ...)")
    credential = models.ForeignKey("keyvault.Secret", on_delete=models.PROTECT, related_name="salt_masters",
                                   help_text="'username:password' for salt-api; its destinations must allow the API host")
    ca_certificate = models.TextField(blank=True, help_text="PEM of the CA that signed salt-api's certificate, or a path")
    master_address = models.CharField(max_length=253, help_text="The address minions connect to (their `master:`)")
    public_key = models.TextField(help_text="The master's public key (master.pub, PEM), handed to enrolling minions")
    fingerprint = models.CharField(max_length=100, help_text="master_finger form: sha256 over the PEM body")
    hmac_secret = models.ForeignKey("keyvault.Secret", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="salt_hmac_masters",
                                    help_text="Shared secret for HMAC enrollment requests (optional)")
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class SaltMinion(models.Model):
    master = models.ForeignKey(SaltMaster, on_delete=models.CASCADE, related_name="minions")
    minion_id = models.CharField(max_length=253)
    node = models.OneToOneField("nodes.Node", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="salt_minion")
    key_state = models.CharField(max_length=10, choices=SaltKeyState.choices, default=SaltKeyState.ABSENT,
                                 db_index=True)
    key_fingerprint = models.CharField(max_length=100, blank=True, help_text="salt-key -f form")
    salt_version = models.CharField(max_length=40, blank=True)
    last_ping_at = models.DateTimeField(null=True, blank=True)
    last_ping_ok = models.BooleanField(null=True)
    hardware = models.JSONField(default=dict, blank=True, help_text="From grains: CPU, memory, GPUs, InfiniBand, OS")
    hardware_updated_at = models.DateTimeField(null=True, blank=True)
    key_seen_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    rbac_project_field = "node__project"

    class Meta:
        ordering = ["master__name", "minion_id"]
        constraints = [models.UniqueConstraint(fields=["master", "minion_id"], name="salt_minion_unique_id")]
        permissions = [("run_saltminion", "Can run Salt functions on minions (within the function policy)")]

    def __str__(self):
        return self.minion_id

    def get_absolute_url(self):
        return reverse("nodes:salt-minion", args=[self.pk])


class SaltMinionGroup(models.Model):
    master = models.ForeignKey(SaltMaster, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=63)
    description = models.CharField(max_length=300, blank=True)
    minions = models.ManyToManyField(SaltMinion, blank=True, related_name="groups")

    class Meta:
        ordering = ["master__name", "name"]
        constraints = [models.UniqueConstraint(fields=["master", "name"], name="salt_group_unique_name")]

    def __str__(self):
        return self.name


class EnrollmentMethod(models.TextChoices):
    TOKEN = "token", "One-time token"
    HMAC = "hmac", "HMAC request"
    # A batch install over SSH: a one-time token as TOKEN, but the install job itself accepts the
    # reported key (no separate acceptance job).
    BATCH = "batch", "Batch install over SSH"


class EnrollmentState(models.TextChoices):
    ISSUED = "issued", "Token issued"
    REDEEMED = "redeemed", "Redeemed (minion configured)"
    REPORTED = "reported", "Fingerprint reported"
    ACCEPTED = "accepted", "Key accepted"
    FAILED = "failed", "Failed"


class SaltEnrollment(models.Model):
    """One enrollment of a node's minion: the token (or HMAC request) it came with, the fingerprint
    the minion reported, and whether the key was accepted."""
    master = models.ForeignKey(SaltMaster, on_delete=models.CASCADE, related_name="enrollments")
    node = models.ForeignKey("nodes.Node", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="salt_enrollments")
    minion_id = models.CharField(max_length=253)
    method = models.CharField(max_length=8, choices=EnrollmentMethod.choices, default=EnrollmentMethod.TOKEN)
    token = models.ForeignKey("keyvault.OneTimeToken", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    state = models.CharField(max_length=10, choices=EnrollmentState.choices, default=EnrollmentState.ISSUED)
    detail = models.CharField(max_length=300, blank=True)
    report_hash = models.CharField(max_length=64, blank=True, help_text="sha256 of the report token")
    report_expires_at = models.DateTimeField(null=True, blank=True)
    reported_fingerprint = models.CharField(max_length=100, blank=True)
    redeemed_from = models.GenericIPAddressField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    rbac_project_field = "node__project"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.minion_id} ({self.get_state_display()})"


class HmacNonce(models.Model):
    """Nonces of HMAC enrollment requests: each one is accepted once (unique), kept past the window."""
    master = models.ForeignKey(SaltMaster, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["master", "nonce"], name="salt_hmac_nonce_once")]


class SaltRun(models.Model):
    """A Salt function run from the portal: its jid, per-minion returns and retcodes."""
    master = models.ForeignKey(SaltMaster, on_delete=models.CASCADE, related_name="runs")
    jid = models.CharField(max_length=20, blank=True, db_index=True)
    fun = models.CharField(max_length=100)
    arguments = models.JSONField(default=list, blank=True)
    target = models.JSONField(default=list, blank=True, help_text="minion ids")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    returns = models.JSONField(default=dict, blank=True, help_text="{minion: {ret, retcode, success}}")
    missing = models.JSONField(default=list, blank=True)
    ok = models.BooleanField(null=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.fun} {self.jid or '(not sent)'}"
