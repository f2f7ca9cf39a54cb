"""Register the lab's Slurm clusters (scripts/lab/slurm.sh, `make lab`) after `lab_register`:
the MANAGED cluster (controller = its first lab host's Node, slurm.conf path, restart command and
base template from the inventory, gres.conf device pattern of the lab's fake GPUs), discovered
by a job; and the EXTERNAL cluster's controller host as a Node with its trusted host key and a
vault key that may go only to that cluster's hosts, so the external-cluster page can connect it.
Idempotent: a second run updates what the first created.
"""
from pathlib import Path, PurePosixPath

from django.core.management.base import BaseCommand, CommandError

from apps.keyvault.services import put_secret
from apps.nodes import services as nodes
from apps.nodes.management.commands.lab_register import lab_networks, load_lab, publish_networks
from apps.nodes.models import Node

from ... import lab_scaling, services
from ...models import Cluster, ClusterKind


def gres_pattern(lab) -> str:
    """The lab's fake GPU devices (<cluster dir>/dev/<node>/nvidia<i>) as a gres.conf File= pattern,
    checked against every device the inventory lists."""
    node = next((n for n in lab.nodes if n.gpu_devices), None)
    if node is None:
        return "/dev/nvidia{index}"
    first = PurePosixPath(node.gpu_devices[0])
    pattern = f"{first.parent.parent}/{{node}}/nvidia{{index}}"
    for n in lab.nodes:
        for index, device in enumerate(n.gpu_devices):
            if pattern.format(node=n.name, index=index) != device:
                raise CommandError(f"lab GPU device {device} does not follow {pattern}")
    return pattern


def managed_fields(lab) -> dict:
    """The portal's settings of the lab's managed cluster, from its inventory entry."""
    return {"conf_path": lab.slurm_conf, "base_config_path": lab.base_conf,
            "restart_command": list(lab.control["restart_slurmctld"]),
            "slurmd_restart_command": list(lab.control.get("slurmd_restart", [])),
            "gres_file_pattern": gres_pattern(lab)}


class Command(BaseCommand):
    help = "Register the lab's Slurm clusters from LAB_DIR/inventory.json (run lab_register first)."

    def add_arguments(self, parser):
        parser.add_argument("--lab-dir", default="var/lab")
        parser.add_argument("--as-user", default="admin", help="the superuser the changes are made as")

    def handle(self, *args, lab_dir, as_user, **options):
        inv, actor = load_lab(lab_dir, as_user)
        if inv.slurm is None:
            self.stdout.write("lab: no Slurm in the inventory; no cluster registered")
            return
        if inv.slurm.managed:
            self._managed(actor, inv.slurm.managed)
            secret = lab_scaling.register_munge(actor, inv.slurm.managed, lab_networks(inv)["ssh"])
            self.stdout.write(f"lab: munge key of {inv.slurm.managed.name} in the key vault as {secret.name} "
                              "(scaling nodes in through Salt)")
        if inv.slurm.external:
            self._external(actor, inv, inv.slurm.external)

    def _managed(self, actor, lab):
        controller = Node.objects.filter(name=lab.controller_host).first()
        if controller is None:
            raise CommandError(f"node {lab.controller_host} is not registered (run manage.py lab_register)")
        fields = managed_fields(lab)
        cluster = Cluster.objects.filter(name=lab.name).first()
        if cluster is None:
            cluster, job = services.connect(actor, name=lab.name, kind=ClusterKind.MANAGED, controller=controller,
                                            description="The lab's managed Slurm cluster (scripts/lab/slurm.sh)",
                                            reuse_database=False, **fields)
            self.stdout.write(f"lab: managed cluster {lab.name} registered; discovery job {job.pk}")
        else:
            services.update_cluster(actor, cluster, controller=controller, **fields)
            job = services.refresh(actor, cluster)
            self.stdout.write(f"lab: managed cluster {lab.name} updated; discovery job {job.pk}")

    def _external(self, actor, inv, lab):
        """Its controller host as a Node (trusted key, own vault key): the connect flow picks it."""
        host = inv.slurm_login(lab)
        networks = [f"{h.address}/32" for h in lab.ssh_hosts] or [f"{host.address}/32"]
        publish_networks({"ssh": networks}, name=f"lab-slurm-{lab.name}")
        name = f"lab-{lab.name}-ssh-key"
        key_text = Path(inv.client_key_path).read_text()
        key = put_secret(actor, name=name, kind="ssh_private_key", value=key_text, destinations=networks)
        fields = {"address": host.address, "ssh_port": host.port, "ssh_user": host.user, "ssh_credential": key,
                  "labels": ["lab", f"slurm-{lab.name}"]}
        node = Node.objects.filter(name=host.name).first()
        if node is None:
            nodes.create_node(actor, name=host.name, host_keys=[(host.host_key_type, host.host_key)], **fields)
        else:
            nodes.update_node(actor, node, **fields)
            nodes.trust_supplied_key(actor, node, host.host_key_type, host.host_key)
        self.stdout.write(f"lab: external cluster {lab.name}: controller {host.name} ({host.address}) registered "
                          "as a node; connect it on the external-clusters page")
