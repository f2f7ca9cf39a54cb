"""slurm.conf / gres.conf rendering (pure functions on plain values)."""
from __future__ import annotations

import pytest

from apps.clusters import rendering as r

BASE = """# base
ClusterName=wrong
SlurmctldHost=ctl(10.0.0.1)
GresTypes=mps
SelectType=select/cons_tres
"""


def node(name, gpus=2, **kw):
    return r.NodeSpec(name=name, address=kw.pop("address", "10.0.0.9"), cpus=4, sockets=1, cores_per_socket=4,
                      threads_per_core=1, real_memory_mb=2048, gpu_indexes=tuple(range(gpus)), **kw)


def spec(nodes, partitions, **kw):
    return r.ClusterSpec(cluster_name=kw.pop("cluster_name", "lab"), base_text=kw.pop("base_text", BASE),
                         nodes=tuple(nodes), partitions=tuple(partitions), **kw)


def lines(text, key):
    return [line for line in text.splitlines() if line.startswith(key + "=")]


def test_slurm_conf_has_base_cluster_gres_nodes_and_partitions():
    out = r.render(spec([node("gpu01", 4), node("gpu02", 0)],
                        [r.PartitionSpec("batch", ("gpu01", "gpu02"), default=True, max_time="2-00:00:00"),
                         r.PartitionSpec("debug", ("gpu02",), max_time="30", state="DRAIN",
                                         allow_accounts=("ml", "cv"), allow_qos=("normal",),
                                         options={"maxnodes": "1", "PriorityTier": 5})]))
    conf = out.slurm_conf
    assert lines(conf, "ClusterName") == ["ClusterName=lab"]  # the base's own is replaced
    assert lines(conf, "GresTypes") == ["GresTypes=mps,gpu"]
    assert "SlurmctldHost=ctl(10.0.0.1)" in conf
    assert lines(conf, "NodeName") == [
        "NodeName=gpu01 NodeAddr=10.0.0.9 CPUs=4 Sockets=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=2048 "
        "Gres=gpu:4",
        "NodeName=gpu02 NodeAddr=10.0.0.9 CPUs=4 Sockets=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=2048"]
    assert lines(conf, "PartitionName") == [
        "PartitionName=batch Nodes=gpu[01-02] Default=YES MaxTime=2-00:00:00 State=UP",
        "PartitionName=debug Nodes=gpu02 Default=NO MaxTime=30 State=DRAIN AllowAccounts=ml,cv AllowQos=normal "
        "MaxNodes=1 PriorityTier=5"]
    assert out.gres_conf.splitlines()[1:] == ["AutoDetect=off", "NodeName=gpu01 Name=gpu File=/dev/nvidia[0-3]"]


def test_gres_file_pattern_with_node_and_sparse_indexes():
    n = r.NodeSpec("lab-node1", cpus=2, sockets=2, gpu_indexes=(0, 1, 3))
    one = r.NodeSpec("lab-node2", cpus=2, sockets=2, gpu_indexes=(5,))
    out = r.render(spec([n, one], [], gres_file_pattern="/lab/dev/{node}/nvidia{index}"))
    assert out.gres_conf.splitlines()[2:] == ["NodeName=lab-node1 Name=gpu File=/lab/dev/lab-node1/nvidia[0-1,3]",
                                              "NodeName=lab-node2 Name=gpu File=/lab/dev/lab-node2/nvidia5"]
    assert "Gres=gpu:3" in lines(out.slurm_conf, "NodeName")[0]


def test_no_gpus_no_gres_types_from_us():
    out = r.render(spec([node("a1", 0)], [], base_text="SelectType=select/linear\n"))
    assert lines(out.slurm_conf, "GresTypes") == []
    assert out.gres_conf.splitlines()[1:] == ["AutoDetect=off"]


def test_removing_lab_node1_keeps_lab_node10():
    nodes = [node(f"lab-node{i}") for i in (1, 2, 10)]
    part = r.PartitionSpec("batch", ("lab-node1", "lab-node2", "lab-node10"), default=True)
    before = r.render(spec(nodes, [part]))
    assert lines(before.slurm_conf, "PartitionName")[0].startswith("PartitionName=batch Nodes=lab-node[1-2,10] ")
    after = r.render(spec([n for n in nodes if n.name != "lab-node1"], [part]))
    assert [line.split()[0] for line in lines(after.slurm_conf, "NodeName")] == ["NodeName=lab-node2",
                                                                              "NodeName=lab-node10"]
    assert lines(after.slurm_conf, "PartitionName")[0].startswith("PartitionName=batch Nodes=lab-node[2,10] ")
    assert [line.split()[0] for line in after.gres_conf.splitlines()[2:]] == ["NodeName=lab-node2",
                                                                          "NodeName=lab-node10"]
    assert r.restart_reasons(before.slurm_conf, after.slurm_conf) == ["nodes removed: lab-node1"]


@pytest.mark.parametrize("partition, field", [
    (r.PartitionSpec("batch\nNodeName=evil"), "name"),
    (r.PartitionSpec("a b"), "name"),
    (r.PartitionSpec("batch\n"), "name"),  # `$` would accept a trailing newline
    (r.PartitionSpec("DEFAULT"), "name"),
    (r.PartitionSpec("p", max_time="1 State=DOWN"), "max_time"),
    (r.PartitionSpec("p", state="UP\nx"), "state"),
    (r.PartitionSpec("p", allow_accounts=("a,b",)), "allow_accounts"),
    (r.PartitionSpec("p", allow_qos=("q=1",)), "allow_qos"),
    (r.PartitionSpec("p", options={"Nodes": "ALL"}), "options"),
    (r.PartitionSpec("p", options={"MaxNodes": "1 Default=YES"}), "options"),
    (r.PartitionSpec("p", options={"MaxNodes": "1\nNodeName=x"}), "options"),
    (r.PartitionSpec("p", options={"MaxNodes=1 Hidden": "YES"}), "options"),
    (r.PartitionSpec("p", nodes=("n1\n",)), "nodes"),
])
def test_values_that_would_break_a_line_are_refused(partition, field):
    with pytest.raises(r.RenderError) as err:
        r.render(spec([node("n1")], [partition]))
    assert err.value.field == field


@pytest.mark.parametrize("bad, field", [
    (dict(name="n1 Gres=gpu:9"), "slurm_name"),
    (dict(name="ALL"), "slurm_name"),
    (dict(name="n1", address="10.0.0.1 Port=1"), "address"),
    (dict(name="n1", features=("a,b=c",)), "features"),
    (dict(name="n1", cpus=3), "cpus"),
])
def test_bad_node_values_are_refused(bad, field):
    values = dict(address="10.0.0.1", cpus=4, sockets=1, cores_per_socket=4, threads_per_core=1)
    values.update(bad)
    with pytest.raises(r.RenderError) as err:
        r.render(spec([r.NodeSpec(**values)], []))
    assert err.value.field == field


def test_base_template_may_not_hold_nodes_or_partitions():
    with pytest.raises(r.RenderError) as err:
        r.render(spec([], [], base_text="SelectType=x\nNodeName=a CPUs=1\n", base_path="/etc/base.conf"))
    assert err.value.field == "base_config_path" and "line 2" in err.value.message


def test_bad_gres_pattern_and_two_defaults_are_refused():
    with pytest.raises(r.RenderError) as err:
        r.render(spec([], [], gres_file_pattern="/dev/nvidia0"))
    assert err.value.field == "gres_file_pattern"
    with pytest.raises(r.RenderError) as err:
        r.render(spec([], [r.PartitionSpec("a", default=True), r.PartitionSpec("b", default=True)]))
    assert err.value.field == "is_default"


def test_partition_change_reconfigures_node_or_gres_types_change_restarts():
    nodes = [node("n1"), node("n2")]
    live = r.render(spec(nodes, [r.PartitionSpec("batch", ("n1", "n2"))])).slurm_conf
    more = r.render(spec(nodes, [r.PartitionSpec("batch", ("n1", "n2")), r.PartitionSpec("gpu", ("n2",))]))
    assert r.restart_reasons(live, more.slurm_conf) == []
    assert r.restart_reasons(live, r.render(spec(nodes + [node("n3")], [])).slurm_conf) == ["nodes added: n3"]
    no_gpus = r.render(spec([node("n1", 0), node("n2", 0)], [])).slurm_conf
    assert r.restart_reasons(live, no_gpus) == ["changed: grestypes"]
    diff = r.unified_diff(live, more.slurm_conf, "/etc/slurm/slurm.conf")
    assert diff.startswith("--- /etc/slurm/slurm.conf (live)")
    assert "+PartitionName=gpu Nodes=n2 " in diff


def test_options_slurm_shows_at_their_default_are_not_written_back():
    shown = {"AllocNodes": "ALL", "QoS": "N/A", "JobDefaults": "(null)", "TotalCPUs": "4", "MaxNodes": "UNLIMITED",
             "PriorityTier": "5", "OverSubscribe": "FORCE:4", "SelectTypeParameters": "NONE"}
    assert r.settable_options(shown) == {"PriorityTier": "5", "OverSubscribe": "FORCE:4"}
