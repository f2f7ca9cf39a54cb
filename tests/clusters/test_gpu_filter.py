"""GET /api/v1/gpus/?cluster= (the GPU issue's cluster filter): GPUs of the nodes in that cluster,
by id or name; the list page takes the same filter."""
import pytest

from apps.clusters.models import Cluster, ClusterNode
from apps.gpus.models import Gpu
from apps.nodes.models import Node

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_clusters():
    a, b, loose = (Node.objects.create(name=n, address=f"10.9.0.{i}") for i, n in enumerate(("gpu-a", "gpu-b", "gpu-c"), 1))
    for node in (a, b, loose):
        Gpu.objects.bulk_create([Gpu(node=node, index=i, uuid=f"GPU-{node.name}-{i}") for i in range(2)])
    first = Cluster.objects.create(name="first", controller=a)
    second = Cluster.objects.create(name="second", controller=b)
    ClusterNode.objects.create(cluster=first, slurm_name="gpu-a", node=a)
    ClusterNode.objects.create(cluster=second, slurm_name="gpu-b", node=b)
    return first, second


def uuids(response):
    assert response.status_code == 200, response.content
    return sorted(row["uuid"] for row in response.json()["results"])


def test_gpus_of_one_cluster_by_name_or_id(api, root, two_clusters):
    first, second = two_clusters
    client = api(root)
    assert uuids(client.get("/api/v1/gpus/", {"cluster": "first"})) == ["GPU-gpu-a-0", "GPU-gpu-a-1"]
    assert uuids(client.get("/api/v1/gpus/", {"cluster": str(second.pk)})) == ["GPU-gpu-b-0", "GPU-gpu-b-1"]
    assert uuids(client.get("/api/v1/gpus/", {"cluster": "no-such"})) == []


def test_the_gpu_list_page_filters_by_cluster(client, root, two_clusters):
    client.force_login(root)
    page = client.get("/gpus/", {"cluster": "first"}).content.decode()
    assert "gpu-a/gpu0" in page and "gpu-b/gpu0" not in page and "gpu-c/gpu0" not in page


def test_allocated_means_held_by_a_running_slurm_job(api, client, root, two_clusters):
    from apps.clusters.models import SlurmJob

    first, _ = two_clusters
    SlurmJob.objects.create(cluster=first, job_id="7", name="train", user="alice", state="RUNNING",
                            gpu_indexes={"gpu-a": [1]})
    SlurmJob.objects.create(cluster=first, job_id="8", name="done", user="bob", state="COMPLETED",
                            gpu_indexes={"gpu-a": [0]})
    held = uuids(api(root).get("/api/v1/gpus/", {"allocated": "true"}))
    assert held == ["GPU-gpu-a-1"]
    free = uuids(api(root).get("/api/v1/gpus/", {"allocated": "false"}))
    assert "GPU-gpu-a-1" not in free and "GPU-gpu-a-0" in free and len(free) == 5
    client.force_login(root)
    gpu = Gpu.objects.get(uuid="GPU-gpu-a-1")
    page = client.get(f"/gpus/{gpu.pk}/").content.decode()
    assert "first:7 train (alice)" in page and "/clusters/jobs/" in page


def test_the_node_grid_shows_gpu_health(client, root, two_clusters):
    first, _ = two_clusters
    Gpu.objects.filter(uuid="GPU-gpu-a-0").update(health="failed", health_reason="XID 79")
    client.force_login(root)
    page = client.get(f"/clusters/{first.pk}/").content.decode()
    assert "1 GPU failed" in page
    Gpu.objects.filter(uuid="GPU-gpu-a-1").update(health="degraded")
    assert "2 GPU not ok (worst: failed)" in client.get(f"/clusters/{first.pk}/").content.decode()
