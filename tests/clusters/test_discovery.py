"""Discovery stored from real 22.05 output: external clusters mirror Slurm; a managed cluster's
first discovery adopts what Slurm runs, later ones never add to its rendered configuration (a
node removed in the portal but not applied yet stays out of it)."""
import pytest

from apps.clusters import discovery
from apps.clusters.models import Cluster, ClusterKind, ClusterNode, Partition
from apps.clusters.slurm import parsers
from apps.nodes.models import Node

from .samples import sample

pytestmark = pytest.mark.django_db


def snapshot():
    return discovery.Snapshot(parsers.version(sample("scontrol_version_22.05.txt")),
                              parsers.config(sample("scontrol_show_config_22.05.txt")),
                              parsers.nodes(sample("scontrol_show_node_22.05.txt")),
                              parsers.partitions(sample("scontrol_show_partition_22.05.txt")))


@pytest.fixture
def managed():
    return Cluster.objects.create(name="man", kind=ClusterKind.MANAGED, reuse_config=False,
                                  controller=Node.objects.create(name="ctl", address="10.9.3.1"))


def test_first_discovery_adopts_later_ones_only_observe(managed):
    snap = snapshot()
    names = sorted(n.name for n in snap.nodes)
    discovery.apply(managed, snap)
    assert sorted(ClusterNode.objects.filter(cluster=managed, managed=True).values_list("slurm_name", flat=True)) \
        == names
    assert Partition.objects.filter(cluster=managed, managed=True).count() == len(snap.partitions)
    # Removed in the portal, not applied yet: Slurm still reports it, the portal keeps it out.
    ClusterNode.objects.filter(cluster=managed, slurm_name=names[0]).delete()
    discovery.apply(managed, snapshot())
    again = ClusterNode.objects.get(cluster=managed, slurm_name=names[0])
    assert again.managed is False and again.state  # observed, not rendered
    assert ClusterNode.objects.filter(cluster=managed, managed=True).count() == len(names) - 1


def test_external_clusters_mirror_slurm(managed):
    external = Cluster.objects.create(name="ext", controller=managed.controller)
    discovery.apply(external, snapshot())
    ClusterNode.objects.create(cluster=external, slurm_name="gone-node")
    Partition.objects.create(cluster=external, name="gone-part")
    discovery.apply(external, snapshot())
    assert not ClusterNode.objects.filter(slurm_name="gone-node").exists()
    assert not Partition.objects.filter(name="gone-part").exists()
    assert external.samples.count() == 2  # one chart sample per discovery
