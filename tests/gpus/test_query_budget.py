"""GET /api/v1/gpus/ reads the same number of statements for 20 GPUs as for 2,000."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.gpus.models import Gpu
from apps.nodes.models import Node

pytestmark = pytest.mark.django_db


def make_gpus(count: int, project=None, per_node: int = 8) -> None:
    start = Node.objects.count()
    nodes = Node.objects.bulk_create([Node(name=f"budget-{start + n}", address="10.1.0.1", project=project)
                                      for n in range(count // per_node)])
    Gpu.objects.bulk_create([Gpu(node=node, index=i, uuid=f"GPU-{node.name}-{i}", model="NVIDIA H100",
                                 labels=["x"], last_sample={"utilization_pct": 50.0})
                             for node in nodes for i in range(per_node)])


def gpus(n: int, start: int, user) -> None:
    """The GPU list's rows maker for tests/core/test_api_query_budgets.py: n GPUs, 4 per node."""
    nodes = Node.objects.bulk_create([Node(name=f"budget-gpu-{start + i}", address="10.2.0.1")
                                      for i in range(0, n, 4)])
    Gpu.objects.bulk_create([Gpu(node=node, index=i, uuid=f"GPU-{node.name}-{i}", model="NVIDIA H100")
                             for node in nodes for i in range(4)][:n])


def statements(api, user, url) -> tuple[int, int]:
    api(user).get(url)  # process-wide caches (content types) warm, as on a running server
    client = api(type(user).objects.get(pk=user.pk))  # fresh: permissions not yet cached on it
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries), len(response.json().get("results", ()))


@pytest.fixture
def member(make_user, root):
    """An engineer (gpus.view_gpu) who sees GPUs through project membership: the restricted path."""
    from apps.rbac import services as rbac

    user = make_user("budget-member", "gpus.view_gpu")
    project = rbac.create_project(None, "budget", owner=root)
    rbac.add_member(root, project, user.username)
    return user, project


@pytest.mark.parametrize("url", ["/api/v1/gpus/?limit=1000", "/api/v1/gpus/?limit=1000&health=ok&label=x",
                                 "/api/v1/gpus/?cursor=&limit=1000", "/api/v1/gpus/summary/"])
def test_gpu_list_statements_do_not_grow_with_gpus(api, root, member, url):
    user, project = member
    for who in (root, user):
        make_gpus(20, project)
        small = statements(api, who, url)
        make_gpus(1980, project)
        large = statements(api, who, url)
        assert small[0] == large[0], f"{who}: {small[0]} statements for 20 GPUs, {large[0]} for 2,000"
        Gpu.objects.all().delete()
        Node.objects.filter(name__startswith="budget-").delete()
    if "summary" not in url:
        assert large[1] == 1000  # a full page was rendered
