"""The seed's external-cluster flow against the lab's real `ext` cluster (its own hosts, slurmctld
and slurmd, reached over real SSH with strict host keys): test-connection previews and saves
nothing, connect saves and discovers through a real worker, info reads live, refresh rediscovers,
delete forgets the cluster in the portal and leaves Slurm running. Also the failures: an
unreachable controller, a host without Slurm, and a user without the permission."""
import os

import pytest

from apps.clusters.models import Cluster, ClusterNode, Partition
from apps.core.models import AuditEvent
from apps.nodes import services as nodes

from ..conftest import wait_for_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.live,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (namespaces, users)")]


@pytest.fixture
def ext(external_cluster):
    return external_cluster


def test_test_connection_previews_and_saves_nothing(api, ext):
    before = (Cluster.objects.count(), AuditEvent.objects.count())
    response = api(ext["admin"]).post("/api/v1/clusters/test-connection/", {"controller": ext["controller"].name},
                                      format="json")
    assert response.status_code == 200, response.content
    preview = response.json()
    assert "PRIVATE KEY" not in response.content.decode()
    assert preview["ok"] is True
    assert preview["cluster_name"] == ext["lab"].name
    assert preview["version"].startswith(ext["lab"].version.split(".")[0])
    assert preview["node_count"] == len(ext["lab"].node_names)
    assert [p["name"] for p in preview["partitions"]] == [ext["lab"].partition]
    assert preview["controller"].startswith(ext["lab"].controller_host)
    assert (Cluster.objects.count(), AuditEvent.objects.count()) == before


def test_connect_discovers_then_info_refresh_and_delete(api, live_worker, ext):
    client = api(ext["admin"])
    response = client.post("/api/v1/clusters/connect/", {"name": "ext", "controller": ext["controller"].pk,
                                                         "description": "the lab's external cluster"},
                           format="json")
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["job"], timeout=60)
    assert job.status == "succeeded", job.error
    cluster = Cluster.objects.get(pk=response.json()["cluster"])
    assert cluster.kind == "external" and cluster.reuse_config and cluster.reuse_munge and cluster.reuse_database
    assert cluster.status == "online", cluster.status_reason
    assert cluster.slurm_cluster_name == ext["lab"].name and cluster.discovered_at
    assert sorted(ClusterNode.objects.filter(cluster=cluster).values_list("slurm_name", flat=True)) == \
        ext["lab"].node_names
    # The controller host is a registered node: its Slurm node is linked to it.
    assert ClusterNode.objects.get(cluster=cluster, slurm_name=ext["controller"].name).node == ext["controller"]
    assert list(Partition.objects.filter(cluster=cluster).values_list("name", flat=True)) == [ext["lab"].partition]
    assert AuditEvent.objects.filter(action="cluster.connect").count() == 1

    charts = client.get(f"/api/v1/clusters/{cluster.pk}/metrics/", {"layout": "columns"}).json()
    assert charts["avg"]["nodes_idle"] == [len(ext["lab"].node_names)]  # the discovery's sample

    info = client.get(f"/api/v1/clusters/{cluster.pk}/info/").json()
    assert info["live"] is True and info["nodes"] == len(ext["lab"].node_names)
    assert info["states"] == {"idle": len(ext["lab"].node_names)} and info["queue_length"] == 0

    Partition.objects.filter(cluster=cluster).delete()  # the portal lost track: refresh brings it back
    response = client.post(f"/api/v1/clusters/{cluster.pk}/refresh/")
    assert response.status_code == 202
    assert wait_for_job(response.json()["job"], timeout=60).status == "succeeded"
    assert Partition.objects.filter(cluster=cluster, name=ext["lab"].partition).exists()

    assert client.delete(f"/api/v1/clusters/{cluster.pk}/").status_code == 204
    assert not Cluster.objects.filter(pk=cluster.pk).exists() and not ClusterNode.objects.exists()
    # Forgetting it changed nothing on the cluster: Slurm still answers with every node.
    preview = client.post("/api/v1/clusters/test-connection/", {"controller": ext["controller"].pk},
                          format="json").json()
    assert preview["ok"] and preview["node_count"] == len(ext["lab"].node_names)


def test_a_connection_failure_is_a_readable_reason(api, ext, fleet):
    admin = ext["admin"]
    # A node that does not answer SSH (nothing listens on that port).
    dead = nodes.create_node(admin, name="ext-dead", address=ext["controller"].address, ssh_port=1,
                             ssh_user="aimx", ssh_credential=ext["controller"].ssh_credential)
    answer = api(admin).post("/api/v1/clusters/test-connection/", {"controller": dead.pk}, format="json").json()
    assert answer["ok"] is False and "ext-dead" in answer["error"]
    # The right host without a trusted host key: refused, and the key recorded as pending.
    stranger = nodes.create_node(admin, name="ext-stranger", address=ext["controller"].address,
                                 ssh_port=ext["controller"].ssh_port, ssh_user="aimx",
                                 ssh_credential=ext["controller"].ssh_credential)
    answer = api(admin).post("/api/v1/clusters/test-connection/", {"controller": stranger.pk}, format="json").json()
    assert answer["ok"] is False and "unknown host key" in answer["error"]
    assert not Cluster.objects.exists()


def test_connect_refuses_bad_input_by_field(api, ext, make_user):
    admin = ext["admin"]
    client = api(admin)
    for body, field in (({"controller": ext["controller"].pk}, "name"),
                        ({"name": "Bad Name;rm", "controller": ext["controller"].pk}, "name"),
                        ({"name": "ok"}, "controller"),
                        ({"name": "ok", "controller": "no-such-node"}, "controller")):
        response = client.post("/api/v1/clusters/connect/", body, format="json")
        assert response.status_code == 400 and field in response.json(), (body, response.content)
    engineer = make_user("eng", "clusters.view_cluster")
    response = api(engineer).post("/api/v1/clusters/connect/", {"name": "x", "controller": ext["controller"].pk},
                                  format="json")
    assert response.status_code == 403
    assert not Cluster.objects.exists()


def test_reservations_as_slurm_shows_them(api, client, ext):
    from apps.nodes import remote

    cluster = Cluster.objects.create(name="ext", controller=ext["controller"])
    create = ["sudo", "-n", "scontrol", "create", "reservation", "ReservationName=maint-window", "StartTime=now",
              "Duration=60", "Nodes=ALL", "Users=root", "Flags=MAINT"]
    assert remote.run(ext["controller"], create, timeout=30, purpose="test").exit_status == 0
    try:
        answer = api(ext["admin"]).get(f"/api/v1/clusters/{cluster.pk}/reservations/").json()
        assert answer["live"] is True
        (found,) = [r for r in answer["reservations"] if r["name"] == "maint-window"]
        assert found["maintenance"] and sorted(found["nodes"]) == ext["lab"].node_names and found["users"] == ["root"]
        client.force_login(ext["admin"])
        page = client.get(f"/clusters/{cluster.pk}/reservations/").content.decode()
        assert "maint-window" in page and "maintenance" in page
    finally:
        remote.run(ext["controller"], ["sudo", "-n", "scontrol", "delete", "ReservationName=maint-window"],
                   timeout=30, purpose="test")
