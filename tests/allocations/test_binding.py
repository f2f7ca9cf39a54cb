"""Fleet binding without the lab: the allocation signals queue the binding after commit; the
reservation commands sent for create / extend / release (argv, validated names, UTC times, no
MAINT); a failed step is recorded with its reason and retried by the sweep; SSH key validation,
the on-node script's exact-marker removal, and the users' key page and API."""
import datetime as dt
import getpass
import subprocess
from types import SimpleNamespace

import pytest

from apps.allocations import binding, services, slurm_reservations, ssh_keys, tasks
from apps.allocations.models import AllocationBinding, UserSshKey
from apps.allocations.models_binding import BindingGoal, BindingKind, BindingState
from apps.clusters.models import Cluster, ClusterNode, ProjectAccount, SlurmUser
from apps.clusters.slurm import SshSlurm
from apps.clusters.slurm.errors import InvalidName
from apps.core.errors import InvalidInput
from apps.core.models import AuditEvent

from .conftest import add_node

pytestmark = pytest.mark.django_db
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC3YC+UxM1TxplPGxsWcBCnWpMJyWETtfhRC7WaynIpA"


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.bind, "delay", calls.append)
    return calls


@pytest.fixture
def sent(monkeypatch):
    """Slurm commands the binding sends (each answered with success)."""
    argvs = []

    def run(argv, *, stdin=None, timeout, **kw):
        argvs.append(argv)
        return SimpleNamespace(exit_status=0, stdout="No reservations in the system\n" if "show" in argv else "",
                               stderr="")

    monkeypatch.setattr(binding, "_slurm", lambda b: SshSlurm(run, remote_timeout=False))
    return argvs


def test_signals_queue_the_binding_after_commit(team, dev, queued, django_capture_on_commit_callbacks):
    add_node("b1", gpus=2)
    with django_capture_on_commit_callbacks(execute=True):
        allocation = services.request_allocation(dev, project=team, gpu_count=1, duration_hours=1)
    assert allocation.state == "active" and queued == [allocation.pk]
    with django_capture_on_commit_callbacks(execute=True):
        services.extend(dev, allocation, hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.release(dev, allocation)
    assert queued == [allocation.pk] * 3


def test_reservation_commands(team, dev, owner, sent):
    node = add_node("c1", gpus=4)
    cluster = Cluster.objects.create(name="c", controller=node)
    ClusterNode.objects.create(cluster=cluster, slurm_name="slurm-c1", node=node, gpu_count=4)
    ProjectAccount.objects.create(cluster=cluster, project=team, account="team-acct")
    SlurmUser.objects.create(user=dev, username="devuser")
    SlurmUser.objects.create(user=owner, cluster=cluster, username="owneruser")
    allocation = services.request_allocation(dev, project=team, gpu_count=2, duration_hours=2)
    binding.sync(allocation.pk)
    name = f"aimx-alloc-{allocation.pk}"
    end = allocation.end.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    assert sent[-1] == ["env", "TZ=UTC", "scontrol", "create", "reservation", f"ReservationName={name}",
                        "Nodes=slurm-c1", "StartTime=now", f"EndTime={end}", "Flags=OVERLAP,IGNORE_JOBS",
                        "Accounts=team-acct", "Users=devuser,owneruser"]
    row = AllocationBinding.objects.get(allocation=allocation)
    assert row.kind == BindingKind.SLURM_RESERVATION and row.state == BindingState.DONE
    assert row.gpu_indexes == [{"node": "slurm-c1", "indexes": [0, 1]}]
    binding.sync(allocation.pk)  # settled: nothing sent again
    assert len([a for a in sent if "create" in a]) == 1

    allocation = services.extend(dev, allocation, hours=1)
    binding.sync(allocation.pk)
    end = allocation.end.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    assert sent[-1] == ["env", "TZ=UTC", "scontrol", "update", f"ReservationName={name}", f"EndTime={end}"]
    services.release(dev, allocation)
    binding.sync(allocation.pk)
    assert sent[-1] == ["env", "TZ=UTC", "scontrol", "delete", f"ReservationName={name}"]
    row.refresh_from_db()
    assert (row.goal, row.state) == (BindingGoal.ABSENT, BindingState.DONE)
    actions = list(AuditEvent.objects.filter(object_id=str(allocation.pk), action__startswith="allocations.")
                   .values_list("action", flat=True).order_by("id"))
    assert actions.count("allocations.bind") == 2 and actions.count("allocations.unbind") == 1


def test_reservation_names_are_validated():
    assert slurm_reservations.reservation_name(42) == "aimx-alloc-42"
    for bad in ("aimx-alloc-1 Flags=MAINT", "other", "aimx-alloc-"):
        with pytest.raises(InvalidName):
            slurm_reservations.check_name(bad)
    with pytest.raises(InvalidName):
        slurm_reservations.create(SshSlurm(lambda *a, **k: None), "aimx-alloc-1", nodes=["n1 x"],
                                  end=dt.datetime.now(dt.timezone.utc), accounts=["a"], users=[])


def test_a_failed_step_is_recorded_and_retried_by_the_sweep(team, dev, now):
    node = add_node("s1", gpus=2)  # standalone, and the requester has no Unix login mapped
    allocation = services.request_allocation(dev, project=team, gpu_count=2, duration_hours=1)
    binding.sync(allocation.pk)
    row = AllocationBinding.objects.get(allocation=allocation)
    assert (row.kind, row.node_id, row.devices) == (BindingKind.SSH_ACCESS, node.pk, "0,1")
    assert row.state == BindingState.FAILED and "no Unix login" in row.detail and row.attempts == 1
    assert binding.due(now) == []  # within the grace period a queued task may still be running
    later = now + dt.timedelta(minutes=5)
    assert binding.due(later) == [allocation.pk]
    assert binding.retry_due(later) == 1
    row.refresh_from_db()
    assert row.attempts == 2 and row.state == BindingState.FAILED
    # Backed off: the third attempt waits 2 minutes after the second.
    assert binding.due(row.updated_at + dt.timedelta(seconds=90)) == []
    assert binding.due(row.updated_at + dt.timedelta(seconds=130)) == [allocation.pk]


def test_public_keys_are_validated():
    line, fingerprint = ssh_keys.parse_public_key(ED25519 + " me@laptop")
    assert line == ED25519 and fingerprint.startswith("SHA256:")
    for bad in ('command="rm -rf /" ' + ED25519, "ssh-dss AAAAB3NzaC1kc3MAAACBAP", "ssh-ed25519 !!!notbase64",
                ED25519 + "\nssh-ed25519 AAAA", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAQQDe", ""):
        with pytest.raises(InvalidInput) as caught:
            ssh_keys.parse_public_key(bad)
        assert "public_key" in caught.value.errors
    with pytest.raises(InvalidInput):
        ssh_keys.check_login("root")
    argv = ssh_keys.install_argv("add", "alice", "aimx-allocation-7")
    assert argv[:5] == ["sudo", "-n", "python3", "-c", ssh_keys.INSTALL_SCRIPT]
    assert argv[5:] == ["add", "%h/.ssh/authorized_keys", "alice", "aimx-allocation-7"]


def test_the_node_script_removes_exactly_the_marked_lines(tmp_path):
    path = tmp_path / "authorized_keys"
    keep = ["ssh-ed25519 AAAAkeep portal", "ssh-ed25519 AAAAother aimx-allocation-71",
            "ssh-ed25519 AAAAmid aimx-allocation-7 trailing"]
    path.write_text("\n".join(keep) + "\n")
    path.chmod(0o640)
    me = getpass.getuser()

    def script(op, marker, stdin=""):
        return subprocess.run(["python3", "-c", ssh_keys.INSTALL_SCRIPT, op, str(path), me, marker], input=stdin,
                              capture_output=True, text=True, timeout=30)

    assert script("add", "aimx-allocation-7", ED25519 + "\n").returncode == 0
    assert path.read_text().splitlines() == keep + [f"{ED25519} aimx-allocation-7"]
    assert script("add", "aimx-allocation-7", ED25519 + "\n").returncode == 0  # idempotent
    assert path.read_text().splitlines().count(f"{ED25519} aimx-allocation-7") == 1
    assert script("add", "aimx-allocation-7", 'command="x" ' + ED25519 + "\n").returncode != 0
    assert script("remove", "aimx-allocation-7").returncode == 0
    assert path.read_text().splitlines() == keep and oct(path.stat().st_mode & 0o777) == "0o640"
    assert script("remove", "aimx-allocation-7; rm -rf /").returncode != 0


def test_key_page_and_api(dev, owner, client, api):
    client.force_login(dev)
    answer = client.post("/allocations/ssh-keys/", {"name": "laptop", "public_key": ED25519 + " me"})
    assert answer.status_code == 302
    assert UserSshKey.objects.get(user=dev).public_key == ED25519
    answer = client.post("/allocations/ssh-keys/", {"name": "again", "public_key": ED25519})
    assert answer.status_code == 400 and b'id="key-public-error"' in answer.content
    answer = api(dev).post("/api/v1/allocations/ssh-keys/", {"name": "bad", "public_key": "nope"}, format="json")
    assert answer.status_code == 400 and "public_key" in answer.json()
    assert [k["name"] for k in api(dev).get("/api/v1/allocations/ssh-keys/").json()["results"]] == ["laptop"]
    assert api(owner).get("/api/v1/allocations/ssh-keys/").json()["results"] == []
    key = UserSshKey.objects.get(user=dev)
    client.force_login(owner)
    assert client.post("/allocations/ssh-keys/", {"delete": key.pk}).status_code == 400  # not theirs
    client.force_login(dev)
    assert client.post("/allocations/ssh-keys/", {"delete": key.pk}).status_code == 302
    assert not UserSshKey.objects.filter(user=dev).exists()
    assert AuditEvent.objects.filter(action__startswith="allocations.ssh_key_").count() == 2


def test_detail_api_shows_bindings_and_usage(team, dev, api, sent):
    node = add_node("d1", gpus=2)
    cluster = Cluster.objects.create(name="d", controller=node)
    ClusterNode.objects.create(cluster=cluster, slurm_name="slurm-d1", node=node, gpu_count=2)
    ProjectAccount.objects.create(cluster=cluster, project=team, account="team-acct")
    allocation = services.request_allocation(dev, project=team, gpu_count=1, duration_hours=1)
    binding.sync(allocation.pk)
    body = api(dev).get(f"/api/v1/allocations/{allocation.pk}/").json()
    (bound,) = body["bindings"]
    assert (bound["kind"], bound["name"], bound["cluster"], bound["slurm_nodes"], bound["state"]) == (
        "slurm", f"aimx-alloc-{allocation.pk}", "d", ["slurm-d1"], "done")
    assert body["usage"]["gpus"] == 1 and body["usage"]["mean_utilization_pct"] is None
