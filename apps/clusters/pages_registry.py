"""What the clusters app adds to the registries of the apps below it (called from
ClustersConfig.ready()): global search, and the GPUs running Slurm jobs hold."""
from urllib.parse import urlencode

from django.urls import reverse


def register() -> None:
    from apps.core import search
    from apps.gpus import holders

    from . import efficiency, services
    from .models import Cluster

    holders.register("slurm-jobs", efficiency.gpu_holders)  # GPUs held by running jobs

    search.register(Cluster, label="Clusters", fields=("name", "slurm_cluster_name", "description"),
                    visible=services.visible_clusters, url=lambda cluster: reverse("clusters:detail", args=[cluster.pk]),
                    more=lambda text: f"{reverse('clusters:list')}?{urlencode({'q': text})}")
