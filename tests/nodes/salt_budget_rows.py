"""Rows for the query-budget tests: n Salt minions (each on a node of a project) and n Salt runs."""
from django.contrib.auth.models import Group

from apps.nodes.models import Node
from apps.nodes.salt_models import SaltMaster, SaltMinion, SaltRun


def _master(start, user):
    from apps.keyvault.models import Secret
    from apps.rbac.models import Project

    group = Group.objects.create(name=f"project:budget-salt-{start}")
    project = Project.objects.create(name=f"budget-salt-{start}", group=group)
    secret = Secret.objects.create(name=f"budget-salt-{start}", ciphertext="x", checksum="0" * 64, created_by=user,
                                   updated_by=user)
    master = SaltMaster.objects.create(name=f"budget-{start}", api_url="https://10.5.0.1:8000", credential=secret,
                                       master_address="10.5.0.1", public_key="pem", fingerprint="f")
    return master, project


def minions(n, start, user):
    master, project = _master(start, user)
    made = Node.objects.bulk_create([Node(name=f"salt-node-{i:05d}", address=f"10.5.{i // 256}.{i % 256}",
                                          project=project) for i in range(start, start + n)])
    SaltMinion.objects.bulk_create([SaltMinion(master=master, minion_id=node.name, node=node, key_state="accepted",
                                               key_fingerprint="ab:" * 31 + "ab", salt_version="3008.4")
                                    for node in made])


def salt_runs(n, start, user):
    master, _ = _master(start, user)
    SaltRun.objects.bulk_create([SaltRun(master=master, jid=f"2026113011{i:010d}", fun="test.ping",
                                         target=[f"m{i}"], requested_by=user, ok=True,
                                         returns={f"m{i}": {"ret": True, "retcode": 0, "success": True}})
                                 for i in range(start, start + n)])
