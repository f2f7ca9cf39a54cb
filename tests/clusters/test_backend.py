"""SshSlurm with a recording `run`: the argv it sends, stdin, timeouts, and how failures read."""
from datetime import datetime

import pytest

from apps.clusters.slurm import (CommandFailed, CommandNotFound, CommandTimeout, InvalidName, JobSubmission,
                                 NodeAction, NotFound, ParseError, PermissionDenied, SlurmBackend, SshSlurm,
                                 TransportError, UnsupportedVersion)
from apps.nodes.ssh import Result

from .payloads import REASONS, SCONTROL, SHELL
from .samples import sample


class FakeRun:
    def __init__(self, *replies):
        self.replies, self.calls = list(replies), []

    def __call__(self, argv, *, stdin=None, timeout):
        self.calls.append((argv, stdin, timeout))
        reply = self.replies.pop(0) if self.replies else Result(0, "", "", 0.01)
        if isinstance(reply, Exception):
            raise reply
        return reply

    @property
    def argv(self):
        return self.calls[-1][0]


def ok(stdout="", stderr=""):
    return Result(0, stdout, stderr, 0.01)


def fail(status, stderr, stdout=""):
    return Result(status, stdout, stderr, 0.01)


def test_backend_is_the_interface():
    assert isinstance(SshSlurm(FakeRun()), SlurmBackend)


def test_every_command_is_argv_with_a_timeout_on_both_ends():
    run = FakeRun(ok(sample("scontrol_version_22.05.txt")))
    assert str(SshSlurm(run, timeout=12).version()) == "22.05.8"
    argv, stdin, timeout = run.calls[0]
    assert argv == ["timeout", "-k", "5", "12", "scontrol", "--version"] and stdin is None and timeout > 12


def test_without_remote_timeout_the_argv_is_bare():
    run = FakeRun(ok(sample("scontrol_ping_22.05.txt")))
    SshSlurm(run, remote_timeout=False).ping()
    assert run.argv == ["scontrol", "ping"]


def test_old_versions_are_refused():
    with pytest.raises(UnsupportedVersion, match="20.02"):
        SshSlurm(FakeRun(ok("slurm 20.02.7\n"))).version()


def test_reads_parse_their_samples():
    run = FakeRun(ok(sample("scontrol_show_node_22.05.txt")), ok(sample("scontrol_show_partition_22.05.txt")),
                  ok(sample("sinfo_nodes_22.05.txt")), ok(sample("squeue_format_22.05.txt")),
                  ok(sample("scontrol_show_job_d_22.05.txt")))
    slurm = SshSlurm(run, remote_timeout=False)
    assert [n.name for n in slurm.nodes()] == ["lab-node1", "lab-node10"]
    assert [p.name for p in slurm.partitions()] == ["gpu", "debug"]
    assert len(slurm.sinfo()) == 3
    assert len(slurm.queue(users=["root"], states=["running", "PD"], partitions=["gpu"], accounts=["physics"])) == 7
    assert run.argv[-4:] == ["--user=root", "--account=physics", "--partition=gpu", "--states=RUNNING,PENDING"]
    assert slurm.job("1").gpu_indexes == {"lab-node10": [0, 1]}
    assert run.argv == ["scontrol", "show", "job", "-d", "-o", "1"]


def test_submit_sends_the_script_on_stdin_as_the_mapped_user():
    run = FakeRun(ok("42\n"))
    script = "#!/bin/bash\necho $(hostname) `date`; rm -rf / # inert: only the job's own shell reads this\n"
    job = JobSubmission(script=script, name="train", partition="gpu", account="physics", qos="high", nodes=1,
                        cpus_per_task=4, memory_mb=2048, time_limit_minutes=90, gpus=2, gpu_type="a100",
                        work_dir="/home/alice", output="/home/alice/slurm-%j.out", comment="run 7; $(x)")
    assert SshSlurm(run, remote_timeout=False).submit(job, as_user="alice").job_id == "42"
    argv, stdin, _ = run.calls[0]
    assert argv[:5] == ["sudo", "-n", "-u", "alice", "--"]
    assert argv[5:] == ["sbatch", "--parsable", "--job-name=train", "--partition=gpu", "--account=physics",
                        "--qos=high", "--nodes=1", "--cpus-per-task=4", "--mem=2048M", "--time=01:30:00",
                        "--gres=gpu:a100:2", "--output=/home/alice/slurm-%j.out", "--chdir=/home/alice",
                        "--comment=run 7; $(x)"]
    assert stdin == script.encode()


@pytest.mark.parametrize("field, value", [("name", "x;reboot"), ("partition", "gpu State=UP"),
                                          ("account", "$(id)"), ("qos", "a b"), ("gpu_type", "a100,b"),
                                          ("output", "rel/path"), ("comment", "a\nb"), ("gpus", -1)])
def test_submit_refuses_bad_fields_naming_them(field, value):
    run = FakeRun()
    job = JobSubmission(script="#!/bin/sh\ntrue\n", work_dir="/tmp", **{field: value})
    with pytest.raises(InvalidName) as err:
        SshSlurm(run).submit(job, as_user="alice")
    assert err.value.field == field and run.calls == []


@pytest.mark.parametrize("script", ["", "echo no shebang\n", "#!/bin/sh\n\x00"])
def test_submit_refuses_bad_scripts(script):
    with pytest.raises(InvalidName, match="script"):
        SshSlurm(FakeRun()).submit(JobSubmission(script=script, work_dir="/tmp"), as_user="alice")


def test_submit_never_as_root_and_needs_a_work_dir_for_another_user():
    with pytest.raises(InvalidName, match="never run as root"):
        SshSlurm(FakeRun()).submit(JobSubmission(script="#!/bin/sh\n", work_dir="/tmp"), as_user="root")
    with pytest.raises(InvalidName, match="working directory") as err:
        SshSlurm(FakeRun()).submit(JobSubmission(script="#!/bin/sh\n"), as_user="alice")
    assert err.value.field == "work_dir"
    for user in SHELL:
        with pytest.raises(InvalidName):
            SshSlurm(FakeRun()).cancel("42", as_user=user)


def test_job_actions():
    run = FakeRun()
    slurm = SshSlurm(run, remote_timeout=False)
    slurm.cancel("42", as_user="bob")
    assert run.argv == ["sudo", "-n", "-u", "bob", "--", "scancel", "42"]
    slurm.hold("41_3")
    assert run.argv == ["scontrol", "hold", "41_3"]
    slurm.release("42")
    slurm.requeue("42")
    assert run.argv == ["scontrol", "requeue", "42"]
    slurm.signal("42", "usr1")
    assert run.argv == ["scancel", "--full", "-s", "USR1", "42"]
    for bad in ("42;reboot", "-1", "42 43", "$(id)"):
        with pytest.raises(InvalidName):
            slurm.cancel(bad)


def test_node_updates_keep_the_reason_one_argument():
    run = FakeRun()
    slurm = SshSlurm(run, remote_timeout=False)
    slurm.update_nodes(["lab-node1"], NodeAction.DRAIN, "GPU 1 failed; see $(ticket)")
    assert run.argv == ["scontrol", "update", "NodeName=lab-node1", "State=DRAIN",
                        "Reason=GPU 1 failed; see $(ticket)"]
    slurm.update_nodes(["lab-node10", "lab-node1"], NodeAction.RESUME)
    assert run.argv == ["scontrol", "update", "NodeName=lab-node[1,10]", "State=RESUME"]
    slurm.update_nodes("lab-node1", "POWER_DOWN")
    assert run.argv[-1] == "State=POWER_DOWN"
    with pytest.raises(InvalidName, match="reason"):
        slurm.update_nodes(["lab-node1"], NodeAction.DOWN)
    calls = len(run.calls)
    for payload in SCONTROL + SHELL:
        with pytest.raises(InvalidName):
            slurm.update_nodes([payload], NodeAction.DRAIN, "x")
    for payload in REASONS:
        with pytest.raises(InvalidName):
            slurm.update_nodes(["lab-node1"], NodeAction.DRAIN, payload)
    assert len(run.calls) == calls  # nothing refused was sent


def test_output_reads_are_bounded_and_run_as_the_user():
    run = FakeRun(ok("tail\n"), ok("héllo\ufffd"))
    slurm = SshSlurm(run, remote_timeout=False)
    assert slurm.read_output("/home/a/out.txt", as_user="alice", max_bytes=100).text == "tail\n"
    assert run.argv == ["sudo", "-n", "-u", "alice", "--", "tail", "-c", "100", "--", "/home/a/out.txt"]
    chunk = slurm.read_output("/home/a/out.txt", offset=10, max_bytes=7)
    assert run.argv == ["dd", "if=/home/a/out.txt", "bs=65536", "iflag=skip_bytes,count_bytes", "skip=10",
                        "count=7", "status=none"]
    assert chunk.text == "héllo" and chunk.next_offset == 16  # the cut character is read again next time
    with pytest.raises(InvalidName):
        slurm.read_output("/x", max_bytes=10 ** 9)


def test_history_window_and_filters():
    run = FakeRun(ok(sample("sacct_22.05.txt")))
    rows = SshSlurm(run, remote_timeout=False).history(datetime(2026, 11, 30, 0, 0), datetime(2026, 11, 30, 12),
                                                      accounts=["physics"], states=["FAILED"])
    assert len(rows) == 5
    assert "--starttime=2026-11-30T00:00:00" in run.argv and "--endtime=2026-11-30T12:00:00" in run.argv
    assert "--allusers" in run.argv and "--accounts=physics" in run.argv and "--state=FAILED" in run.argv
    with pytest.raises(InvalidName):
        SshSlurm(run).history(datetime(2026, 1, 1), states=["RUNNING;x"])


@pytest.mark.parametrize("reply, error, text", [
    (fail(127, "bash: scontrol: command not found"), CommandNotFound, "not found on the host"),
    (fail(1, "Node lab-node99 not found"), NotFound, "lab-node99"),
    (fail(1, "slurm_load_jobs error: Invalid job id specified"), NotFound, "Invalid job id"),
    (fail(1, "scancel: error: Kill job error on job id 9: Access/permission denied"), PermissionDenied, "denied"),
    (fail(1, "sudo: a password is required"), PermissionDenied, "password"),
    (fail(124, ""), CommandTimeout, "within 30 s"),
    (fail(1, "x" * 5000 + "the end"), CommandFailed, "the end"),
    (TimeoutError("deadline"), CommandTimeout, "within"),
    (OSError("lab-ctl: unreachable"), TransportError, "unreachable"),
])
def test_failures_read_well(reply, error, text):
    with pytest.raises(error, match=text) as err:
        SshSlurm(FakeRun(reply), timeout=30).ping()
    assert len(str(err.value)) < 800


def test_ping_reports_a_down_backup_without_raising():
    run = FakeRun(fail(1, "", sample("scontrol_ping_23.11_handwritten.txt")))
    assert [c.up for c in SshSlurm(run).ping()] == [True, False]


def test_truncated_output_is_never_parsed():
    truncated = Result(0, sample("squeue_format_22.05.txt")[:100], "", 0.1, stdout_truncated=True)
    with pytest.raises(ParseError, match="more output"):
        SshSlurm(FakeRun(truncated)).queue()


def test_accounting_reads():
    run = FakeRun(ok(sample("sacctmgr_assoc_22.05.txt")), ok(sample("sacctmgr_qos_22.05.txt")),
                  ok(sample("sacctmgr_account_22.05.txt")), ok(sample("sacctmgr_user_22.05.txt")))
    slurm = SshSlurm(run, remote_timeout=False)
    assert len(slurm.associations(accounts=["physics"])) == 5
    assert run.argv[-1] == "accounts=physics"
    assert [q.name for q in slurm.qos()] == ["normal", "high"]
    assert len(slurm.accounts()) == 3 and slurm.users()[0].name == "root"


def test_large_reads_ask_the_transport_for_more_output_only_when_configured():
    calls = []

    def run(argv, *, stdin=None, timeout, **extra):
        calls.append(extra)
        return ok(sample("squeue_format_22.05.txt") if argv[0] == "squeue" else sample("scontrol_version_22.05.txt"))

    slurm = SshSlurm(run, remote_timeout=False, large_output=64 << 20)
    slurm.queue()
    slurm.version()
    assert calls == [{"max_output": 64 << 20}, {}]
    SshSlurm(run, remote_timeout=False).queue()
    assert calls[-1] == {}


def test_gpu_indexes_of_chosen_jobs():
    lines = sample("scontrol_show_job_d_22.05.txt").splitlines()
    run = FakeRun(ok(lines[0] + "\n"), fail(1, "slurm_load_jobs error: Invalid job id specified"))
    assert SshSlurm(run, remote_timeout=False).job_gpu_indexes(["1", "99"]) == {"1": {"lab-node10": [0, 1]}}
    assert [c[0][-1] for c in run.calls] == ["1", "99"]


def test_queue_with_finished_jobs_asks_squeue_for_every_state():
    run = FakeRun(ok(sample("squeue_format_22.05.txt")), ok(sample("squeue_format_22.05.txt")))
    slurm = SshSlurm(run, remote_timeout=False)
    assert slurm.queue(with_finished=True) and "--states=all" in run.argv
    slurm.queue(states=["RUNNING"], with_finished=True)  # explicit states win
    assert "--states=all" not in run.argv and "--states=RUNNING" in run.argv
