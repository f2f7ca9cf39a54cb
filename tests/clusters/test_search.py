"""Global search finds clusters the user may see, by name, and only those."""
import pytest

from apps.clusters.models import Cluster
from apps.nodes.models import Node
from apps.rbac import services as rbac

pytestmark = pytest.mark.django_db


def test_search_finds_visible_clusters(client, root, make_user):
    controller = Node.objects.create(name="ctl", address="10.9.2.1")
    home = rbac.create_project(None, "search-home", owner=root)
    Cluster.objects.create(name="gpu-prod", controller=controller, project=home)
    cluster = Cluster.objects.get(name="gpu-prod")
    link = f'href="/clusters/{cluster.pk}/"'
    client.force_login(root)
    assert link in client.get("/search/", {"q": "gpu-prod"}).content.decode()
    engineer = make_user("eng", "clusters.view_cluster")
    client.force_login(engineer)
    assert link not in client.get("/search/", {"q": "gpu-prod"}).content.decode()
