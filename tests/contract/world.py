"""The users and objects the contract tests act on, built once per module.

Matrix users: one per role template (staff, so the admin's own checks are what is tested, not
the staff flag), anonymous, `other-project`: an engineer who owns another project and holds
every node and secret permission, so only project scoping stands between them and the objects,
and `project-member`: an engineer who is a plain member of the objects' projects (sees them, may
not change them: 403 where the others get 404).

Every object belongs to a project no other matrix user is a member of (`matrix-home`: the node
and the secrets; `matrix-team`: the project the project routes act on, which owns nothing so it
can be deleted), or to the superuser `matrix-root`: only the operator roles (admin, sre) may act
on them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client

from apps.rbac.roles import ROLE_TEMPLATES

ROLES = list(ROLE_TEMPLATES)
OTHER = "other-project"
MEMBER = "project-member"
ANONYMOUS = "anonymous"
MATRIX_USERS = ROLES + [OTHER, MEMBER]
ALL = MATRIX_USERS + [ANONYMOUS]

# The object a route's `{pk}` names, by the longest matching template prefix.
PK_OBJECTS = [
    ("/jobs/", "job"), ("/api/v1/jobs/", "job"),
    # Retry needs a job that has ended; cancel one that has not.
    ("/jobs/{pk}/retry/", "finished_job"), ("/api/v1/jobs/{pk}/retry/", "finished_job"),
    ("/projects/", "project"), ("/api/v1/projects/", "project"),
    ("/nodes/", "node"), ("/api/v1/nodes/", "node"), ("/api/v1/servers/", "node"),
    ("/api/v1/gpus/", "gpu"), ("/gpus/", "gpu"),
    ("/api/v1/events/", "event"), ("/api/v1/event-rules/", "eventrule"),
    ("/api/v1/webhook-deliveries/", "webhookdelivery"), ("/api/v1/alert-rules/", "alertrule"),
    ("/api/v1/alerts/", "alert"), ("/alerts/", "alert"),
    ("/api/v1/agent/credentials/", "nodecredential"), ("/agent/credentials/", "nodecredential"),
    ("/keyvault/", "secret"), ("/api/v1/secrets/", "secret"),
    ("/keyvault/tokens/", "token"), ("/api/v1/keyvault/tokens/", "token"),
    ("/api/v1/keyvault/access-log/", "secretaccess"),
    ("/api/v1/keyvault/redemptions/", "tokenredemption"),
    ("/api/v1/audit/", "auditevent"),
    ("/api/v1/users/", "member"),
    ("/clusters/", "cluster"), ("/api/v1/clusters/", "cluster"),
    ("/api/v1/clusters/partitions/", "partition"), ("/api/v1/clusters/members/", "clusternode"),
    ("/clusters/partitions/", "partition"), ("/clusters/members/", "clusternode"),
    ("/clusters/jobs/", "slurmjob"), ("/api/v1/slurm-jobs/", "slurmjob"),
    ("/clusters/job-templates/", "jobtemplate"), ("/api/v1/job-templates/", "jobtemplate"),
    ("/clusters/accounts/", "projectaccount"), ("/api/v1/clusters/accounts/", "projectaccount"),
    ("/allocations/", "allocation"), ("/api/v1/allocations/", "allocation"),
    ("/nodes/salt/", "saltminion"), ("/api/v1/salt/minions/", "saltminion"),
    ("/nodes/salt/runs/", "saltrun"), ("/api/v1/salt/runs/", "saltrun"),
]

# The object an admin route's `{object_id}` names, by "app_label.model_name".
ADMIN_OBJECTS = {
    "auth.group": "group", "auth.user": "member", "authtoken.tokenproxy": "api_token",
    "django_celery_beat.periodictask": "periodictask", "django_celery_beat.clockedschedule": "clockedschedule",
    "django_celery_beat.crontabschedule": "crontabschedule", "django_celery_beat.solarschedule": "solarschedule",
    "django_celery_beat.intervalschedule": "intervalschedule",
    "axes.accessattempt": "accessattempt", "axes.accesslog": "accesslog", "axes.accessfailurelog": "accessfailurelog",
    "core.auditevent": "auditevent", "jobs.job": "job",
    "keyvault.secret": "secret", "keyvault.onetimetoken": "token", "keyvault.secretaccess": "secretaccess",
    "keyvault.tokenredemption": "tokenredemption",
    "nodes.node": "node", "nodes.nodeevent": "nodeevent",
    "gpus.gpu": "gpu", "gpus.gpuevent": "gpuevent", "gpus.gpusample": "gpusample", "gpus.nodesample": "nodesample",
    "gpus.gpurollup1m": "gpurollup1m", "gpus.gpurollup1h": "gpurollup1h", "gpus.nodecredential": "nodecredential",
    "events.event": "event", "events.eventrule": "eventrule", "events.webhookdelivery": "webhookdelivery",
    "events.alertrule": "alertrule", "events.alert": "alert",
    "rbac.project": "project", "rbac.membership": "membership",
    "clusters.cluster": "cluster", "clusters.partition": "partition", "clusters.clusternode": "clusternode",
    "clusters.slurmjob": "slurmjob", "clusters.jobtemplate": "jobtemplate", "clusters.slurmuser": "slurmuser",
    "clusters.projectaccount": "projectaccount",
    "allocations.allocation": "allocation", "allocations.projectquota": "projectquota",
    "nodes.saltmaster": "saltmaster", "nodes.saltminion": "saltminion", "nodes.saltrun": "saltrun",
    "nodes.saltenrollment": "saltenrollment", "nodes.saltminiongroup": "saltminiongroup",
}


@dataclass
class World:
    users: dict
    objects: dict
    sessions: dict = field(default_factory=dict)  # role -> session key
    _client: Client | None = None
    _forms: dict = field(default_factory=dict)

    def client(self, role: str) -> Client:
        """A client with only this role's session cookie. One handler for all: building one
        loads the middleware, and WhiteNoise scans every static file while doing so."""
        from http.cookies import SimpleCookie

        from django.conf import settings

        if self._client is None:
            # A client address that is not loopback: some views trust loopback (metrics).
            self._client = Client(REMOTE_ADDR="198.51.100.7", raise_request_exception=False)
        self._client.cookies = SimpleCookie()
        if role in self.sessions:
            self._client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[role]
        return self._client

    def form_as_shown(self, url: str) -> dict:
        """The fields of the form at `url` as a superuser's browser would submit them."""
        from .forms import form_fields

        if url not in self._forms:
            client = self.client("root")
            self._forms[url] = form_fields(client.get(url).content.decode())
        return self._forms[url]

    def action_targets(self, changelist: str) -> list:
        """What an admin action is applied to: the route's object; for jobs, an active one (to
        cancel) and an ended one (to retry), so each action has exactly one thing to do."""
        if changelist == "/admin/jobs/job/":
            return [self.objects["job"].pk, self.objects["finished_job"].pk]
        return [self.values(changelist + "{object_id}/")["object_id"]]

    def values(self, template: str) -> dict:
        """URL kwarg name -> value for one route template."""
        o = self.objects
        values = {
            "format": "json", "kind": "core.selfcheck", "app_label": "jobs", "url": "no-such-page/",
            "key_id": o["hostkey"].pk, "username": o["member"].username, "job_id": o["job"].pk,
            "id": o["member"].pk, "content_type_id": o["node_type"].pk,
            "grant_id": o["user_grant" if template.startswith("/api/v1/users/") else "project_grant"].id,
        }
        if template.startswith("/admin/r/"):
            values["object_id"] = o["node"].pk
        elif template.startswith("/admin/"):
            label = ".".join(template.split("/")[2:4])
            if label in ADMIN_OBJECTS:
                values["object_id"] = o[ADMIN_OBJECTS[label]].pk
        prefixes = [(p, kind) for p, kind in PK_OBJECTS if template.startswith(p)]
        if prefixes:
            values["pk"] = o[max(prefixes, key=lambda pk: len(pk[0]))[1]].pk
        return values

    def body_context(self, role: str) -> dict:
        o = self.objects
        return {"role": role, "node": o["node"].name, "node_id": o["node"].pk, "secret": o["secret"].name,
                "secret_id": o["secret"].pk, "member": o["member"].username, "project": o["project"].name,
                "job_id": o["job"].pk, "root_id": o["root"].pk, "cluster_id": o["cluster"].pk,
                "clusternode_id": o["clusternode"].pk, "project_id": o["project"].pk,
                "interval_id": o["intervalschedule"].pk, "now": int(time.time()),
                "saltmaster_id": o["saltmaster"].pk}


def _user(username, *, staff=True, superuser=False, groups=()):
    user = get_user_model().objects.create_user(username=username, is_staff=staff, is_superuser=superuser)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


def build_world() -> World:
    from apps.jobs import services as jobs
    from apps.keyvault import onetime
    from apps.keyvault import services as vault
    from apps.keyvault.models import SecretAccess, TokenRedemption
    from apps.nodes import services as nodes
    from apps.nodes.models import HostKey, NodeEvent
    from apps.rbac import services as rbac

    users = {role: _user(f"matrix-{role}", groups=[role]) for role in ROLES}
    other = users[OTHER] = _user("matrix-other", groups=["engineer"])
    other.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["nodes", "keyvault"],
                                                          content_type__model__in=["node", "secret"]))
    project_member = users[MEMBER] = _user("matrix-project-member", groups=["engineer"])
    root = _user("matrix-root", superuser=True)
    member = _user("matrix-member", staff=False)
    rbac.create_project(None, "matrix-elsewhere", owner=other)
    # `home` owns the node and the secrets; `team` owns nothing, so it can be deleted.
    home = rbac.create_project(None, "matrix-home", owner=root)
    team = rbac.create_project(None, "matrix-team", owner=root)
    for project in (home, team):
        rbac.add_member(root, project, member.username)
        rbac.add_member(root, project, project_member.username)

    secret = vault.create_secret(root, name="matrix-secret", value="matrix-value", project=home)
    vault.create_secret(root, name="matrix-bmc", kind="bmc_credentials", value="admin:matrix-value", project=home)
    vault.reveal_secret(root, secret, "fixture: an access log row")
    node = nodes.create_node(root, name="matrix-node", address="10.0.0.7", project=home)
    hostkey = HostKey.objects.create(node=node, key_type="ssh-ed25519", public_key="AAAAmatrix",
                                     fingerprint="SHA256:matrix")
    token, _ = onetime.issue_token(root, "secret", secret.name)
    used, _ = onetime.issue_token(root, "secret", secret.name)
    job = jobs.start_job(root, "core.selfcheck")
    finished = jobs.start_job(root, "core.selfcheck")
    type(finished).objects.filter(pk=finished.pk).update(status="failed", error="fixture")
    objects = {
        "root": root, "member": member, "project": team, "group": team.group,
        "membership": team.memberships.get(user=member), "secret": secret, "node": node, "hostkey": hostkey,
        "token": token, "job": job, "finished_job": finished,
        "tokenredemption": TokenRedemption.objects.create(token=used, outcome="replayed", ip="198.51.100.9"),
        "secretaccess": SecretAccess.objects.filter(secret=secret).latest("pk"),
        "nodeevent": NodeEvent.objects.create(node=node, kind="matrix", message="fixture"),
        "project_grant": rbac.grant(root, team, node, "view"),
        "user_grant": rbac.grant(root, member, node, "view"),
        **_gpu_objects(node),
        **_event_objects(node),
        **_cluster_objects(node, root, member),
        **_allocation_objects(home, root),
        **_salt_objects(node, root),
        "auditevent": _latest_audit(), "node_type": _content_type(node),
        **_third_party_objects(member),
    }
    return World(users=users, objects=objects)


def _gpu_objects(node) -> dict:
    """A GPU on the world's node with a sample, an XID event and rollups, through the ingest."""
    import datetime as dt

    from django.utils import timezone

    from apps.gpus import rollups
    from apps.gpus.ingest import ingest
    from apps.gpus.models import Gpu, GpuEvent, GpuRollup1h, GpuRollup1m, GpuSample, NodeSample

    now = timezone.now().replace(microsecond=0)
    ts = now.isoformat()
    ingest(node, {"version": 1, "inventory": [{"index": 0, "uuid": "GPU-matrix", "name": "NVIDIA H100"}],
                  "gpu_samples": [{"uuid": "GPU-matrix", "ts": ts, "utilization_pct": 50.0}],
                  "node_samples": [{"ts": ts, "cpu_pct": 10.0}],
                  "events": [{"uuid": "GPU-matrix", "ts": ts, "kind": "xid", "xid": 13, "message": "fixture"}]},
           source="agent")
    rollups.roll_minutes(now - dt.timedelta(minutes=1), now + dt.timedelta(minutes=1))
    rollups.roll_hours(now - dt.timedelta(hours=1), now + dt.timedelta(hours=1))
    gpu = Gpu.objects.get(uuid="GPU-matrix")
    from apps.gpus.models import NodeCredential  # an enrolled agent's credential (only its hash is kept)

    credential = NodeCredential.objects.create(node=node, key_id="matrix0000000001", secret_hash="0" * 64)
    return {"gpu": gpu, "nodecredential": credential, "gpuevent": GpuEvent.objects.filter(gpu=gpu).latest("pk"),
            "gpusample": GpuSample.objects.get(gpu=gpu), "nodesample": NodeSample.objects.get(node=node),
            "gpurollup1m": GpuRollup1m.objects.get(gpu=gpu), "gpurollup1h": GpuRollup1h.objects.get(gpu=gpu)}


def _event_objects(node) -> dict:
    """An event about the world's node, a rule with a webhook delivery, an alert rule and a firing
    alert on the world's GPU, all in the node's project."""
    from django.utils import timezone

    from apps.events.models import Alert, AlertRule, EventRule, EventType, WebhookDelivery
    from apps.events.publish import publish
    from apps.gpus.models import Gpu

    event = publish(EventType.CONFIGURATION_CHANGED, node, "fixture")
    rule = EventRule.objects.create(name="matrix-rule", project=node.project, webhook_url="http://10.0.0.30/hook")
    alert_rule = AlertRule.objects.create(name="matrix-alert-rule", metric="gpu.power_w", threshold=600,
                                          project=node.project)
    gpu = Gpu.objects.get(uuid="GPU-matrix")
    alert = Alert.objects.create(rule=alert_rule, object_id=str(gpu.pk), object_repr=str(gpu), project=node.project,
                                 value=650.0, last_value=650.0, started_at=timezone.now())
    return {"event": event, "eventrule": rule, "alertrule": alert_rule, "alert": alert,
            "webhookdelivery": WebhookDelivery.objects.create(rule=rule, event=event, url=rule.webhook_url)}


def _cluster_objects(node, root, member) -> dict:
    """An external cluster in the world node's project, controlled by a node of its own (a node that
    controls a cluster cannot be deleted, and the world's node must be), with the world's node as
    a member, a partition, a Slurm job, a job template, a user mapping and a project account."""
    from apps.clusters.models import (Cluster, ClusterNode, JobTemplate, Partition, ProjectAccount, SlurmJob,
                                      SlurmUser)
    from apps.nodes.models import Node

    controller = Node.objects.create(name="matrix-controller", address="10.0.0.8", project=node.project)
    cluster = Cluster.objects.create(name="matrix-cluster", controller=controller, project=node.project)
    return {"cluster": cluster,
            "partition": Partition.objects.create(cluster=cluster, name="matrix-part", nodes=[node.name]),
            "clusternode": ClusterNode.objects.create(cluster=cluster, slurm_name=node.name, node=node, state="IDLE"),
            "slurmjob": SlurmJob.objects.create(cluster=cluster, job_id="4242", name="matrix-job", user="matrix",
                                                project=node.project, submitted_by=root),
            "jobtemplate": JobTemplate.objects.create(name="matrix-template", project=node.project, owner=root,
                                                      script="#!/bin/sh\ntrue\n"),
            "slurmuser": SlurmUser.objects.create(user=member, username="matrix"),
            "projectaccount": ProjectAccount.objects.create(cluster=cluster, project=node.project, account="matrix")}


def _salt_objects(node, root) -> dict:
    """A Salt master (salt-api on an address nothing answers: key operations answer 409), the world
    node's minion with a pending key, a group, an enrollment and a finished run."""
    from apps.keyvault.models import Secret
    from apps.nodes.salt_models import SaltEnrollment, SaltMaster, SaltMinion, SaltMinionGroup, SaltRun

    from apps.nodes.salt.results import pem_body_fingerprint

    pub = "-----BEGIN PUBLIC KEY-----\nMIIBmatrix\n-----END PUBLIC KEY-----\n"
    master = SaltMaster.objects.create(name="matrix-master", api_url="https://127.0.0.1:9", eauth="file",
                                       credential=Secret.objects.get(name="matrix-bmc"), master_address="10.0.0.30",
                                       public_key=pub, fingerprint=pem_body_fingerprint(pub))
    minion = SaltMinion.objects.create(master=master, minion_id=node.name, node=node, key_state="pending",
                                       key_fingerprint=":".join(["1b"] * 32))
    group = SaltMinionGroup.objects.create(master=master, name="matrix-group")
    group.minions.add(minion)
    return {"saltmaster": master, "saltminion": minion, "saltminiongroup": group,
            "saltenrollment": SaltEnrollment.objects.create(master=master, node=node, minion_id=node.name,
                                                            created_by=root),
            "saltrun": SaltRun.objects.create(master=master, jid="20261130111111111111", fun="test.ping",
                                              target=[node.name], requested_by=root, ok=True,
                                              returns={node.name: {"ret": True, "retcode": 0, "success": True}})}


def _allocation_objects(home, root) -> dict:
    """A pending allocation of the world's GPU for the node's project (its quota of 0 GPUs sends
    every request there to approval), tomorrow, so requests for now still find the GPU free."""
    import datetime as dt

    from django.utils import timezone

    from apps.allocations import services as allocations
    from apps.allocations.models import ProjectQuota

    quota = ProjectQuota.objects.create(project=home, concurrent_gpus=0)
    start = timezone.now() + dt.timedelta(days=1)
    allocation = allocations.request_allocation(root, project=home, gpu_count=1, start=start,
                                                end=start + dt.timedelta(hours=2), purpose="matrix")
    return {"allocation": allocation, "projectquota": quota}


def _latest_audit():
    from apps.core.models import AuditEvent

    return AuditEvent.objects.latest("pk")


def _content_type(obj):
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(obj)


def _third_party_objects(member) -> dict:
    """Rows of the admins other packages register (authtoken, celery beat, axes)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.utils import timezone
    from django_celery_beat.models import (ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask,
                                           SolarSchedule)
    from rest_framework.authtoken.models import Token, TokenProxy

    interval = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    axes = {"username": "matrix-member", "ip_address": "198.51.100.9", "user_agent": "matrix"}
    return {
        "api_token": TokenProxy.objects.get(key=Token.objects.create(user=member).key),
        "intervalschedule": interval,
        "crontabschedule": CrontabSchedule.objects.create(minute="5"),
        "solarschedule": SolarSchedule.objects.create(event="sunrise", latitude=1, longitude=1),
        "clockedschedule": ClockedSchedule.objects.create(clocked_time=timezone.now()),
        "periodictask": PeriodicTask.objects.create(name="matrix-task", task="matrix.task", interval=interval),
        "accessattempt": AccessAttempt.objects.create(failures_since_start=1, **axes),
        "accesslog": AccessLog.objects.create(**axes),
        "accessfailurelog": AccessFailureLog.objects.create(**axes),
    }


def log_in(world: World) -> None:
    """One session per matrix user, reused by every case (each case copies the cookie)."""
    from django.conf import settings

    for role, user in [*world.users.items(), ("root", world.objects["root"])]:
        client = Client()
        client.force_login(user)
        world.sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
