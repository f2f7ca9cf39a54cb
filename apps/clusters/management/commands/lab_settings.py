"""Print the portal settings the lab needs for scaling and batch installs, as shell assignments
for var/lab/env (`make lab` appends them; `make run` reads that file while the lab is up):
the master's pillar directory the portal writes slurm.node's pillar into, slurm.node's lab
overrides (SLURM_NODE_PILLAR), and the lab's shared salt-minion as the batch install's source."""
import json
import shlex

from django.core.management.base import BaseCommand

from apps.nodes import lab_salt
from apps.nodes.lab_inventory import Inventory

from ... import lab_scaling


def lab_settings(inv) -> dict[str, str]:
    out = {}
    if inv.salt:
        if inv.salt.pillar_roots:
            out["AIMATRIX_SALT_PILLAR_DIR"] = inv.salt.pillar_roots[0]
        out["AIMATRIX_SALT_MINION_SOURCE"] = json.dumps(lab_salt.minion_source())
    if inv.slurm and inv.slurm.managed:
        out["AIMATRIX_SLURM_NODE_PILLAR"] = json.dumps(lab_scaling.node_pillar(inv.slurm.managed))
    return out


class Command(BaseCommand):
    help = "Print the lab's Salt and scaling settings as NAME=value lines (for var/lab/env)."

    def add_arguments(self, parser):
        parser.add_argument("--lab-dir", default="var/lab")

    def handle(self, *args, lab_dir, **options):
        for name, value in lab_settings(Inventory.load(lab_dir)).items():
            self.stdout.write(f"{name}={shlex.quote(value)}")
