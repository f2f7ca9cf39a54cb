"""Register the local lab (scripts/lab, `make lab`) in the portal: credentials in the vault,
nodes with their trusted host keys, and BMCs. Idempotent.

The lab's addresses are published as managed networks (MANAGED_NETWORKS_DIR/lab.txt; its BMC
emulators run on this machine's loopback, which is otherwise refused) and each lab credential
may be sent only to the lab addresses it belongs to.
"""
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.keyvault.models import Secret
from apps.keyvault.services import put_secret
from apps.nodes import lab_salt, services
from apps.nodes.lab_inventory import Inventory, read_creds
from apps.nodes.models import Node


def load_lab(lab_dir: str, as_user: str):
    """(the lab's inventory, the superuser the registration acts as), or a CommandError saying
    what to run first. Shared by every lab registration command."""
    if not (Path(lab_dir) / "inventory.json").exists():
        raise CommandError(f"{lab_dir}/inventory.json not found: run `make lab` first")
    actor = get_user_model().objects.filter(username=as_user, is_superuser=True).first()
    if actor is None:
        raise CommandError(f"no superuser {as_user!r} (run manage.py ensure_admin)")
    return Inventory.load(lab_dir), actor


class Command(BaseCommand):
    help = "Register the lab's hosts, BMCs and credentials from LAB_DIR/inventory.json."

    def add_arguments(self, parser):
        parser.add_argument("--lab-dir", default="var/lab")
        parser.add_argument("--as-user", default="admin", help="the superuser the changes are made as")

    def handle(self, *args, lab_dir, as_user, **options):
        inv, actor = load_lab(lab_dir, as_user)
        networks = lab_networks(inv)
        publish_networks(networks)
        self._secret(actor, "lab-ssh-key", "ssh_private_key", Path(inv.client_key_path).read_text(), networks["ssh"])
        if inv.redfish:
            self._secret(actor, "lab-redfish", "bmc_credentials", ":".join(read_creds(inv.redfish.credentials_file)),
                         networks["redfish"])
        if inv.ipmi:
            self._secret(actor, "lab-ipmi", "bmc_credentials", ":".join(read_creds(inv.ipmi.credentials_file)),
                         networks["ipmi"])
        key = Secret.objects.get(name="lab-ssh-key")
        for host in inv.hosts:
            node = Node.objects.filter(name=host.name).first()
            fields = {"address": host.address, "ssh_port": host.port, "ssh_user": host.user, "ssh_credential": key,
                      "labels": ["lab"]}
            if node is None:
                node = services.create_node(actor, name=host.name, host_keys=[(host.host_key_type, host.host_key)],
                                            **fields)
            else:
                node = services.update_node(actor, node, **fields)
                services.trust_supplied_key(actor, node, host.host_key_type, host.host_key)
            if inv.ipmi and inv.ipmi.node == host.name:
                services.set_bmc(actor, node, driver="ipmi", address=inv.ipmi.host, port=inv.ipmi.port,
                                 credential="lab-ipmi")
            elif inv.redfish and host.name in inv.redfish.systems:
                services.set_bmc(actor, node, driver="redfish", address=inv.redfish.url, credential="lab-redfish",
                                 system_id=inv.redfish.systems[host.name], verify_tls=False)
            self.stdout.write(f"lab: node {host.name} {host.address}:{host.port} registered")
        if inv.salt:
            master = lab_salt.register_master(actor, inv)
            self.stdout.write(f"lab: Salt master {master.name} registered (salt-api {master.api_url}); its minions' "
                              "keys stay pending until accepted by fingerprint")

    def _secret(self, actor, name, kind, value, destinations):
        put_secret(actor, name=name, kind=kind, value=value, destinations=destinations)


def lab_networks(inv) -> dict[str, list[str]]:
    """The lab's addresses, per credential: the hosts' subnet (or each host), each BMC emulator."""
    subnet = (inv.network or {}).get("subnet")  # "10.77.0" in namespace mode: the lab's own /24
    ssh = [f"{subnet}.0/24"] if subnet and inv.network.get("mode") == "netns" else [f"{h.address}/32" for h in inv.hosts]
    return {"ssh": ssh,
            "redfish": [f"{urlsplit(inv.redfish.url).hostname}/32"] if inv.redfish else [],
            "ipmi": [f"{inv.ipmi.host}/32"] if inv.ipmi else []}


def publish_networks(networks: dict[str, list[str]], name: str = "lab") -> Path:
    folder = Path(settings.MANAGED_NETWORKS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    entries = sorted({n for group in networks.values() for n in group})
    path.write_text("# the local lab (manage.py lab_register); removed by `make lab-down`\n" + "\n".join(entries) + "\n")
    return path
