import pytest

from apps.clusters.slurm import ParseError, hostlist


@pytest.mark.parametrize("text, hosts", [
    ("lab-node[1-3,10]", ["lab-node1", "lab-node2", "lab-node3", "lab-node10"]),
    ("gpu[01-03]", ["gpu01", "gpu02", "gpu03"]),
    ("gpu[08-11]", ["gpu08", "gpu09", "gpu10", "gpu11"]),
    ("lab-node1", ["lab-node1"]),
    ("a[1-2]-b[1-2]", ["a1-b1", "a1-b2", "a2-b1", "a2-b2"]),
    ("lab-node[1,10],login,gpu[1-2]", ["lab-node1", "lab-node10", "login", "gpu1", "gpu2"]),
    ("rack1-n[7]", ["rack1-n7"]),
    ("", []), ("(null)", []), (None, []),
])
def test_expand(text, hosts):
    assert hostlist.expand(text) == hosts


def test_expand_drops_duplicates_and_keeps_order():
    assert hostlist.expand("n[2,1],n2,n[1-3]") == ["n2", "n1", "n3"]


@pytest.mark.parametrize("bad", ["n[1-", "n1]", "n[3-1]", "n[a-b]", "n[[1]]", "n[1-999999999]"])
def test_expand_refuses_malformed_or_huge(bad):
    with pytest.raises(ParseError):
        hostlist.expand(bad)


@pytest.mark.parametrize("hosts, text", [
    (["lab-node1", "lab-node2", "lab-node3", "lab-node10"], "lab-node[1-3,10]"),
    (["lab-node10", "lab-node1"], "lab-node[1,10]"),
    (["gpu01", "gpu02", "gpu03"], "gpu[01-03]"),
    (["gpu09", "gpu10"], "gpu[09-10]"),
    (["login", "n5"], "login,n5"),
    (["a1-b1", "a1-b2"], "a1-b[1-2]"),
    (["n1", "n01"], "n[1,01]"),
])
def test_compress(hosts, text):
    assert hostlist.compress(hosts) == text


@pytest.mark.parametrize("hosts", [
    ["lab-node1", "lab-node10", "lab-node11", "lab-node2"],
    ["gpu001", "gpu002", "gpu010", "cpu7", "login", "x-1-y"],
    [f"n{i}" for i in range(0, 300, 7)],
])
def test_round_trip_keeps_exact_names(hosts):
    assert sorted(hostlist.expand(hostlist.compress(hosts))) == sorted(hosts)


def test_removing_node1_keeps_node10():
    nodes = hostlist.expand("lab-node[1,10]")
    nodes.remove("lab-node1")
    assert hostlist.compress(nodes) == "lab-node10"
