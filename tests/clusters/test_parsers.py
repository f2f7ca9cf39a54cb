"""Parsers against real Slurm 22.05 output (captured) and hand-written samples of other versions."""
from datetime import datetime

import pytest

from apps.clusters.slurm import JobState, NodeBaseState, NodeFlag, ParseError, parsers
from apps.clusters.slurm.parsing import (parse_gres, parse_memory_mb, parse_minutes, parse_node_state,
                                         parse_seconds, parse_tres, format_minutes)

from .samples import sample


def test_version_and_config():
    assert str(parsers.version(sample("scontrol_version_22.05.txt"))) == "22.05.8"
    assert parsers.version("slurm 23.11.4") > parsers.version(sample("scontrol_version_22.05.txt"))
    cfg = parsers.config(sample("scontrol_show_config_22.05.txt"))
    assert cfg.cluster_name == "labtest"
    assert cfg.controllers == [("vm", "127.0.0.1")]
    assert cfg.gres_types == ["gpu"]
    assert cfg.select_type == "select/cons_tres"
    assert cfg.accounting_storage_type == "accounting_storage/slurmdbd"
    assert cfg.version == "22.05.8"
    assert cfg.values["ProctrackType"] == "proctrack/linuxproc"


def test_config_without_cluster_name_is_refused():
    with pytest.raises(ParseError, match="ClusterName"):
        parsers.config("Configuration data as of now\nFoo = bar\n")


def test_ping():
    (ctl,) = parsers.ping(sample("scontrol_ping_22.05.txt"))
    assert (ctl.name, ctl.role, ctl.up) == ("vm", "primary", True)
    primary, backup = parsers.ping(sample("scontrol_ping_23.11_handwritten.txt"))
    assert primary.up and not backup.up and backup.role == "backup"


def test_nodes_22_05():
    node1, node10 = parsers.nodes(sample("scontrol_show_node_22.05.txt"))
    assert node1.name == "lab-node1" and node10.name == "lab-node10"
    assert (node1.cpus, node1.sockets, node1.cores_per_socket, node1.threads_per_core) == (2, 1, 2, 1)
    assert node1.real_memory_mb == 2000 and node1.address == "127.0.0.1" and node1.hostname == "lab-node1"
    assert node1.gpus == 2 and node1.gres_text == "gpu:2" and node1.gpus_allocated == 2
    assert node1.features == ["a100", "ib"] and node10.features == ["a100"]
    assert node1.partitions == ["gpu", "debug"] and node10.partitions == ["gpu"]
    assert node1.state.base == NodeBaseState.MIXED and not node1.state.flags and node1.reason == ""
    assert node1.os.startswith("Linux 6.") and "#1 SMP" in node1.os  # a value with spaces
    assert node10.state.base == NodeBaseState.MIXED and node10.state.has(NodeFlag.DRAIN)
    assert node10.state.draining and node10.state.summary == "draining" and not node10.state.available
    assert node10.reason == "gpu health failed: GPU 1 ECC errors"
    assert node10.reason_user == "root" and node10.reason_time == datetime(2026, 11, 30, 10, 24, 52)
    assert node10.alloc_tres == {"cpu": "1", "mem": "100M", "gres/gpu": "2"}


def test_nodes_23_11_reason_with_equals_then_more_keys():
    gpu01, gpu02 = parsers.nodes(sample("scontrol_show_node_23.11_handwritten.txt"))
    assert gpu01.reason == "maintenance: ticket=4711 UserId=root(0)" and gpu01.reason_user == "admin"
    assert gpu01.extra["Comment"] == "rack 4 slot 2"
    assert gpu01.state.drained and gpu01.state.has(NodeFlag.NOT_RESPONDING)
    assert gpu01.gres[0].type == "a100" and gpu01.gpus == 8
    assert gpu02.gpus_allocated == 4 and gpu02.reason == ""


def test_partitions_expand_exact_names():
    gpu, debug = parsers.partitions(sample("scontrol_show_partition_22.05.txt"))
    assert gpu.nodes == ["lab-node1", "lab-node10"] and gpu.nodes_expr == "lab-node[1,10]"
    assert gpu.default and not debug.default
    assert gpu.max_time_minutes == 120 and debug.max_time_minutes == 30
    assert gpu.allow_accounts is None and gpu.allow_qos is None
    assert debug.allow_accounts == ["physics", "chem"] and debug.allow_qos == ["normal", "high"]
    assert debug.nodes == ["lab-node1"] and debug.priority_tier == 2 and debug.state == "UP"
    assert gpu.options["OverSubscribe"] == "NO" and gpu.options["PreemptMode"] == "OFF"
    assert gpu.tres["gres/gpu"] == "4" and gpu.total_nodes == 2


def test_sinfo_rows():
    rows = parsers.sinfo_nodes(sample("sinfo_nodes_22.05.txt"))
    assert {(r.node, r.partition) for r in rows} == {("lab-node1", "gpu"), ("lab-node1", "debug"),
                                                     ("lab-node10", "gpu")}
    drained = next(r for r in rows if r.node == "lab-node10")
    assert drained.state == "draining" and drained.reason == "gpu health failed: GPU 1 ECC errors"
    assert drained.default_partition and (drained.cpus_allocated, drained.cpus_other, drained.cpus) == (1, 1, 2)
    assert next(r for r in rows if r.partition == "debug").reason == ""


def test_squeue_rows():
    jobs = {j.job_id: j for j in parsers.squeue(sample("squeue_format_22.05.txt"))}
    assert set(jobs) == {"1", "2", "3", "4", "7_1", "7_2", "7_3"}
    running = jobs["1"]
    assert (running.name, running.user, running.account, running.partition) == ("gpujob", "root", "physics", "gpu")
    assert running.state == JobState.RUNNING and running.nodes == ["lab-node10"] and running.gpus == 2
    assert running.memory_mb == 100 and running.time_limit_minutes == 10 and running.cpus == 1
    assert running.start_time == datetime(2026, 11, 30, 10, 24, 48) and running.tres_per_node == "gres:gpu:2"
    pending = jobs["2"]
    assert pending.name == "gpu one" and pending.state == JobState.PENDING and pending.reason == "AssocGrpGRES"
    assert pending.nodes == []
    array = jobs["7_2"]
    assert array.name == "arr|x"  # the delimiter inside the last field stays in the name
    assert array.array_job_id == "7" and array.array_task_id == "2" and array.reason == "JobHeldUser"
    assert jobs["4"].start_time is None


def test_squeue_refuses_short_lines():
    with pytest.raises(ParseError, match="fields"):
        parsers.squeue("1|2|3\n")


def test_jobs_detail_gpu_indexes_22_05():
    jobs = {j.job_id: j for j in parsers.jobs(sample("scontrol_show_job_d_22.05.txt"))}
    assert jobs["1"].gpu_indexes == {"lab-node10": [0, 1]} and jobs["3"].gpu_indexes == {"lab-node1": [0, 1]}
    assert jobs["2"].name == "gpu one" and jobs["2"].gpu_indexes == {}
    assert jobs["5"].state == JobState.COMPLETED and jobs["5"].gpu_indexes == {}
    assert jobs["6"].state == JobState.FAILED and jobs["6"].exit_code == "3:0"
    assert jobs["1"].stdout_path.endswith("/1.out") and jobs["1"].user == "root"
    assert not any(j.ambiguous for j in jobs.values())


def test_jobs_detail_one_gpu_of_two():
    jobs = {j.job_id: j for j in parsers.jobs(sample("scontrol_show_job_d_spoof_22.05.txt"))}
    assert jobs["2"].gpu_indexes == {"lab-node1": [0]} and jobs["2"].state == JobState.RUNNING


def test_jobs_detail_user_text_cannot_impersonate_fields():
    spoof = {j.job_id: j for j in parsers.jobs(sample("scontrol_show_job_d_spoof_22.05.txt"))}["8"]
    assert spoof.user == "root"  # not alice, whom the job name names
    assert spoof.partition == "gpu"  # not 'evil' from the comment
    assert spoof.gpu_indexes == {}  # the fake GRES block in the name is discarded
    assert spoof.ambiguous
    assert spoof.extra["Comment"] == "c Partition=evil UserId=mallory(6)"


def test_jobs_detail_23_02_and_20_11():
    train, sweep = parsers.jobs(sample("scontrol_show_job_d_23.02_handwritten.txt"))
    assert train.gpu_indexes == {"gpu01": [0, 1, 2, 3], "gpu02": [4, 5, 6, 7]}
    assert train.gpus == 8 and train.nodes == ["gpu01", "gpu02"] and train.memory_mb == 32768
    assert sweep.job_id == "43_1" and sweep.gpus == 1 and sweep.time_limit_minutes == 1440
    assert sweep.extra["Command"] == "/home/bob/my sweep.sh" and sweep.extra["Features"] == "a100&ib"
    (old,) = parsers.jobs(sample("scontrol_show_job_d_20.11_handwritten.txt"))
    assert old.gpu_indexes == {"n1": [0, 2]} and old.time_limit_minutes is None and old.gpus == 2


def test_sacct_rows():
    rows = {r.job_id: r for r in parsers.sacct(sample("sacct_22.05.txt"))}
    assert rows["3"].state == JobState.CANCELLED and rows["3"].state_text == "CANCELLED by 0"
    assert rows["3"].elapsed_seconds == 27 and rows["3"].gpus == 2
    assert rows["6"].state == JobState.FAILED and rows["6"].exit_code == "3:0"
    assert rows["1"].end_time is None and rows["1"].nodes == ["lab-node10"]
    assert rows["2"].name == "gpu one"


def test_sacctmgr_rows():
    assocs = parsers.associations(sample("sacctmgr_assoc_22.05.txt"))
    physics = next(a for a in assocs if a.account == "physics" and not a.user)
    assert physics.grp_tres == {"gres/gpu": "4"} and physics.max_jobs == 10 and physics.max_wall_minutes == 60
    assert physics.parent == "root" and physics.qos == ("normal",)
    user = next(a for a in assocs if a.account == "physics" and a.user == "root")
    assert user.max_jobs == 10 and user.grp_tres == {}
    assert [q.name for q in parsers.qos(sample("sacctmgr_qos_22.05.txt"))] == ["normal", "high"]
    accounts = {a.name: a for a in parsers.accounts(sample("sacctmgr_account_22.05.txt"))}
    assert accounts["physics"].organization == "science"
    (root,) = parsers.users(sample("sacctmgr_user_22.05.txt"))
    assert root.admin_level == "Administrator"


def test_submit_output():
    assert parsers.submit("42\n").job_id == "42"
    assert parsers.submit("43;labtest\n").cluster == "labtest"
    with pytest.raises(ParseError):
        parsers.submit("sbatch: error: Batch job submission failed\n")


@pytest.mark.parametrize("text, minutes", [("30:00", 30), ("02:00:00", 120), ("1-00:00:00", 1440),
                                           ("1-02", 1560), ("90", 90), ("00:00:30", 1), ("UNLIMITED", None),
                                           ("NONE", None), ("N/A", None)])
def test_durations(text, minutes):
    assert parse_minutes(text) == minutes


def test_seconds_and_format():
    assert parse_seconds("00:00:27") == 27
    assert format_minutes(90) == "01:30:00" and format_minutes(1500) == "1-01:00:00"
    assert parse_minutes(format_minutes(4321)) == 4321


@pytest.mark.parametrize("text, mb", [("100M", 100), ("2G", 2048), ("2000", 2000), ("100Mn", 100),
                                      ("4Gc", 4096), ("512K", 0), ("N/A", None)])
def test_memory(text, mb):
    assert parse_memory_mb(text) == mb


def test_gres_and_tres():
    (typed, shard) = parse_gres("gpu:a100:2(S:0-1),shard:4")
    assert (typed.name, typed.type, typed.count) == ("gpu", "a100", 2) and shard.count == 4
    (idx,) = parse_gres("gpu:a100:4(IDX:0-1,3,5)")
    assert idx.indexes == (0, 1, 3, 5)
    assert parse_gres("gpu(IDX:0,2)")[0].count == 2
    assert parse_gres("gres:gpu:1")[0].count == 1 and parse_gres("gres/gpu:2")[0].count == 2
    assert parse_gres("(null)") == [] and parse_gres("N/A") == []
    assert parse_tres("cpu=1,mem=100M,gres/gpu=2") == {"cpu": "1", "mem": "100M", "gres/gpu": "2"}


@pytest.mark.parametrize("text, base, flags", [
    ("IDLE", NodeBaseState.IDLE, set()),
    ("IDLE+DRAIN", NodeBaseState.IDLE, {NodeFlag.DRAIN}),
    ("DOWN+NOT_RESPONDING", NodeBaseState.DOWN, {NodeFlag.NOT_RESPONDING}),
    ("IDLE+CLOUD+POWERED_DOWN", NodeBaseState.IDLE, {NodeFlag.CLOUD, NodeFlag.POWERED_DOWN}),
    ("down*", NodeBaseState.DOWN, {NodeFlag.NOT_RESPONDING}),
    ("idle~", NodeBaseState.IDLE, {NodeFlag.POWERED_DOWN}),
    ("drained", NodeBaseState.IDLE, {NodeFlag.DRAIN}),
    ("draining", NodeBaseState.MIXED, {NodeFlag.DRAIN}),
    ("MIXED+SOMETHING_NEW", NodeBaseState.MIXED, {"SOMETHING_NEW"}),
])
def test_node_states(text, base, flags):
    state = parse_node_state(text)
    assert state.base == base and set(state.flags) == flags


def test_job_states():
    assert JobState.parse("CANCELLED by 1000") == JobState.CANCELLED
    assert JobState.parse("PD") == JobState.PENDING and JobState.parse("weird") == JobState.UNKNOWN
    assert JobState.COMPLETED.finished and JobState.PENDING.active and not JobState.TIMEOUT.active


def test_down_and_drained_nodes_22_05():
    node1, node10 = parsers.nodes(sample("scontrol_show_node_down_drained_22.05.txt"))
    assert node1.state.base == NodeBaseState.DOWN and node1.state.summary == "down" and not node1.state.available
    assert node1.reason == "slurmd restarted by health job"
    assert node10.state.drained and node10.state.summary == "drained"
    assert node10.reason == "gpu health failed: GPU 1 ECC errors"
    rows = {(r.node, r.partition): r for r in parsers.sinfo_nodes(sample("sinfo_nodes_down_drained_22.05.txt"))}
    assert rows[("lab-node10", "gpu")].state == "drained" and rows[("lab-node1", "debug")].state == "down"
    assert parse_node_state(rows[("lab-node10", "gpu")].state).drained


def test_squeue_keeps_a_field_imitating_name_whole():
    (spoof,) = parsers.squeue(sample("squeue_format_spoof_22.05.txt"))
    assert spoof.user == "root" and spoof.job_id == "8" and spoof.tres.get("gres/gpu") is None
    assert spoof.name.startswith("x UserId=alice(1000) CoreSpec=*") and spoof.name.endswith("GRES=gpu:8(IDX:0-7)")


def test_reservations():
    maint, course = parsers.reservations(sample("scontrol_show_reservation_22.05.txt"))
    assert maint.name == "maint_rack4" and maint.maintenance and maint.nodes == ["lab-node10"]
    assert maint.state == "INACTIVE" and maint.duration_minutes == 120 and maint.users == ["root"]
    assert course.accounts == ["physics"] and course.duration_minutes == 1440 and not course.maintenance
    assert course.end_time == datetime(2026, 12, 1, 10, 35, 14)
    assert parsers.reservations("No reservations in the system\n") == []
