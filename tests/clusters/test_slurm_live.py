"""The SSH backend against a real private Slurm 22.05 cluster (munge, MariaDB, slurmdbd, slurmctld,
two slurmd with fake GPUs) started for this module; `run` is local (subprocess, argv) instead of SSH."""
import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from apps.clusters.slurm import (CommandFailed, InvalidName, JobState, JobSubmission, NodeAction, NodeFlag,
                                 NotFound, PermissionDenied, SshSlurm, accounting)

from .localcluster import NODES, LocalCluster, free_base_port, local_runner, missing_binaries

pytestmark = pytest.mark.skipif(bool(missing_binaries()) or os.geteuid() != 0,
                                reason=f"needs root and Slurm 22.05 with munge, slurmdbd and MariaDB installed "
                                       f"(missing: {', '.join(missing_binaries()) or 'none'})")
USER = "nobody"  # an existing unprivileged account: jobs run as it through sudo -n -u


@pytest.fixture(scope="module")
def cluster():
    # not under pytest's tmp dir: it is private to root, and the job user must reach the munge socket
    base = Path(tempfile.mkdtemp(prefix="slurm-live-", dir=os.environ.get("SLURM_TEST_DIR", "/tmp")))
    base.chmod(0o755)
    lc = LocalCluster(base, free_base_port())
    try:
        lc.start()
        slurm = SshSlurm(local_runner(lc), timeout=30)
        slurm.apply_accounting(accounting.diff(
            accounting.current_state(slurm, "labtest"),
            accounting.DesiredState(cluster="labtest", accounts=[accounting.AccountSpec("physics")],
                                    users=[accounting.UserSpec(USER, "physics")])))
        out = base / "out"
        out.chmod(0o1777)
        yield lc, slurm, out
    finally:
        lc.stop()
        shutil.rmtree(base, ignore_errors=True)


def wait_for(what, check, seconds=30.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    pytest.fail(f"{what} did not happen within {seconds} s")


def job(slurm, out, script, **kw):
    return JobSubmission(script=script, account="physics", work_dir=str(out), output=f"{out}/%j.out",
                         memory_mb=10, time_limit_minutes=5, **kw)


def test_discovery(cluster):
    _, slurm, _ = cluster
    assert str(slurm.version()).startswith("22.05")
    assert slurm.config().cluster_name == "labtest"
    assert all(c.up for c in slurm.ping())
    nodes = {n.name: n for n in slurm.nodes()}
    assert set(nodes) == set(NODES) and all(n.gpus == 2 for n in nodes.values())
    parts = {p.name: p for p in slurm.partitions()}
    assert parts["gpu"].nodes == ["lab-node1", "lab-node10"] and parts["debug"].nodes == ["lab-node1"]
    assert {r.node for r in slurm.sinfo()} == set(NODES)
    with pytest.raises(NotFound):
        slurm.nodes(["lab-node99"])


def test_drain_and_resume_exactly_one_node(cluster):
    _, slurm, _ = cluster
    reason = "GPU 1 ECC; ticket #7 $(touch /tmp/h-slurm-pwned) `id`"
    slurm.update_nodes(["lab-node1"], NodeAction.DRAIN, reason)
    node1, node10 = (slurm.nodes([n])[0] for n in NODES)
    assert node1.state.has(NodeFlag.DRAIN) and node1.reason == reason and node1.reason_user == "root"
    assert not node10.state.has(NodeFlag.DRAIN)  # lab-node1 is not lab-node10
    assert not os.path.exists("/tmp/h-slurm-pwned")
    slurm.update_nodes(["lab-node1"], NodeAction.RESUME)
    wait_for("lab-node1 available", lambda: slurm.nodes(["lab-node1"])[0].state.available)
    with pytest.raises(InvalidName):
        slurm.update_nodes(["lab-node1 State=DOWN"], NodeAction.RESUME)


def test_gpu_job_lifecycle_as_the_mapped_user(cluster):
    _, slurm, out = cluster
    marker = out / "pwned"
    script = (f"#!/bin/sh\n# $(touch {marker}) `touch {marker}`\n"
              "echo gpus=$CUDA_VISIBLE_DEVICES user=$(id -un)\nsleep 60\n")
    submitted = slurm.submit(job(slurm, out, script, name="gpu-life", gpus=2), as_user=USER)
    running = wait_for("job running", lambda: next((j for j in slurm.queue(users=[USER])
                                                    if j.job_id == submitted.job_id and j.state == JobState.RUNNING),
                                                   None))
    assert running.gpus == 2 and running.user == USER and running.account == "physics"
    detail = slurm.job(submitted.job_id)
    (node,) = detail.nodes
    assert detail.gpu_indexes == {node: [0, 1]}
    text = wait_for("output", lambda: slurm.read_output(detail.stdout_path, as_user=USER).text)
    assert text.strip() == f"gpus=0,1 user={USER}"
    chunk = slurm.read_output(detail.stdout_path, as_user=USER, offset=5, max_bytes=3)
    assert chunk.text == "0,1" and chunk.next_offset == 8
    with pytest.raises(PermissionDenied):
        slurm.cancel(submitted.job_id, as_user="daemon")  # another user may not cancel it
    slurm.cancel(submitted.job_id, as_user=USER)
    wait_for("cancelled", lambda: slurm.job(submitted.job_id).state == JobState.CANCELLED)
    history = wait_for("sacct row", lambda: slurm.history(datetime.now() - timedelta(hours=1),
                                                          job_ids=[submitted.job_id]))
    assert history[0].state == JobState.CANCELLED and history[0].gpus == 2 and history[0].user == USER
    assert not marker.exists()  # the script went to sbatch on stdin, never through a shell


def test_hold_release_and_signal(cluster):
    _, slurm, out = cluster
    submitted = slurm.submit(job(slurm, out, "#!/bin/sh\nsleep 60\n", name="held", hold=True), as_user=USER)
    assert slurm.job(submitted.job_id).reason == "JobHeldUser"
    slurm.release(submitted.job_id, as_user=USER)
    wait_for("running", lambda: slurm.job(submitted.job_id).state == JobState.RUNNING)
    slurm.signal(submitted.job_id, "KILL", as_user=USER)
    wait_for("ended", lambda: slurm.job(submitted.job_id).state.finished)


def test_account_limit_is_enforced_by_slurm(cluster):
    _, slurm, out = cluster
    desired = accounting.DesiredState(
        cluster="labtest", accounts=[accounting.AccountSpec("capped", description="limit test",
                                                            limits=accounting.Limits(grp_tres={"gres/gpu": 1}))],
        users=[accounting.UserSpec(USER, "capped")])
    plan = accounting.diff(accounting.current_state(slurm, "labtest"), desired)
    assert [c.op for c in plan] == [accounting.Op.ADD, accounting.Op.ADD]
    slurm.apply_accounting(plan)
    assert accounting.diff(accounting.current_state(slurm, "labtest"), desired) == []  # no drift
    sub = job(slurm, out, "#!/bin/sh\nsleep 30\n", name="over-limit", gpus=2)
    sub.account = "capped"
    try:
        submitted = slurm.submit(sub, as_user=USER)
    except CommandFailed as exc:  # AccountingStorageEnforce=safe refuses at submit
        assert "limit" in str(exc).lower() or "policy" in str(exc).lower()
        return
    pending = wait_for("a limit reason", lambda: (lambda j: j if j.reason else None)(slurm.job(submitted.job_id)))
    assert pending.state == JobState.PENDING and pending.reason.startswith("AssocGrp")  # e.g. AssocGrpGRES
    slurm.cancel(submitted.job_id)


def test_reconfigure_keeps_the_controller_up(cluster):
    _, slurm, _ = cluster
    slurm.reconfigure()
    assert all(c.up for c in slurm.ping())
