"""The lab's hosts as portal nodes for the lab benchmarks: a superuser of the benchmark's own,
the lab's client key in the vault (usable only towards the lab's hosts), one node per host with
its host key trusted."""
from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model

from apps.keyvault import services as kv
from apps.nodes import services as nodes
from apps.nodes.management.commands.lab_register import lab_networks


def superuser(name: str):
    user_model = get_user_model()
    user_model.objects.filter(username=name).delete()
    return user_model.objects.create_user(name, is_superuser=True, is_staff=True)


def register_hosts(admin, inv, prefix: str) -> dict:
    """{host name: Node}."""
    key = kv.put_secret(admin, name=f"{prefix}-ssh", kind="ssh_private_key",
                        value=Path(inv.client_key_path).read_text(), destinations=lab_networks(inv)["ssh"])
    return {host.name: nodes.create_node(admin, name=host.name, address=host.address, ssh_port=host.port,
                                         ssh_user=host.user, ssh_credential=key,
                                         host_keys=[(host.host_key_type, host.host_key)])
            for host in inv.hosts}
