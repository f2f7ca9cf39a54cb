"""The contract for pages: who gets what on every page route."""
from .expectations_roles import (FINGER, GRANT, MEMBER, NO_ONE, OPEN, OPS, OTHER, PROJECT_FORM,
                                 PROJECT_POST, SEE, SIGNED_IN)
from .spec import Case

PAGES = {
    "/": {"GET": OPEN},
    "/accounts/login/": {"GET": {"*": 200, "anonymous": 200},
                         "POST": Case({"*": 200, "anonymous": 200}, writes=NO_ONE),
                         "PUT": Case({"*": 200, "anonymous": 200}, writes=NO_ONE)},
    "/accounts/logout/": {"POST": Case({"*": 302, "anonymous": 302}, writes=NO_ONE)},
    "/audit/": {"GET": {OPS: 200, "*": 403}},
    "/jobs/": {"GET": OPEN},
    "/jobs/start/": {"POST": Case({"*": 302}, body={"kind": "core.selfcheck"}, writes=OPS)},
    "/jobs/{pk}/": {"GET": {OPS: 200, "*": 404}},
    "/jobs/{pk}/log.txt": {"GET": {OPS: 200, "*": 404}},
    "/jobs/{pk}/cancel/": {"POST": Case({OPS: 302, "*": 404}, writes=OPS)},
    "/jobs/{pk}/retry/": {"POST": Case({OPS: 302, "*": 404}, writes=OPS)},
    "/keyvault/": {"GET": OPEN},
    "/keyvault/access-log/": {"GET": {OPS: 200, "*": 403}},
    # Adding a secret: operators anywhere; other-project only into its own project (none chosen: 400).
    "/keyvault/new/": {"GET": {OPS: 200, OTHER: 200, "*": 403},
                       "POST": Case({OPS: 302, OTHER: 400, "*": 403},
                                    body={"name": "page-{role}", "kind": "other", "value": "v"}, writes=OPS)},
    "/keyvault/tokens/": {"GET": OPEN},
    # Issuing a `secret` token hands out the value: add_onetimetoken and reveal, which only admin holds here.
    # sre may issue node-enrollment tokens (gpus.add_nodecredential), not secret ones: its form refuses that choice.
    "/keyvault/tokens/new/": {"GET": {OPS: 200, "*": 403},
                              "POST": Case({"admin": 200, "sre": 400, "*": 403},
                                           body={"purpose": "secret", "subject": "{secret}", "ttl": 300},
                                           writes="admin")},
    # Revoke asks first (GET, or a POST without confirm=yes); only the confirmed POST revokes.
    "/keyvault/tokens/{pk}/revoke/": {"GET": {"admin": 200, "*": 404},
                                      "POST": Case({"admin": 302, "*": 404}, body={"confirm": "yes"},
                                                   writes="admin")},
    "/keyvault/{pk}/": {"GET": {OPS: 200, "*": 404}},
    "/keyvault/{pk}/edit/": {"GET": {OPS: 200, "*": 404},
                             "POST": Case({OPS: 302, "*": 404}, body={"description": "changed"}, prefill=True,
                                          writes=OPS)},
    # sre changes secrets but deletes none: it sees this one, so 403.
    "/keyvault/{pk}/delete/": {"GET": {"admin": 200, "sre": 403, "*": 404},
                               "POST": Case({"admin": 302, "sre": 403, "*": 404}, body={"confirm": "yes"},
                                            writes="admin")},
    "/keyvault/{pk}/reveal/": {"POST": Case({"admin": 200, "sre": 302, "*": 404}, body={"reason": "contract"},
                                            writes="admin", reveals="admin")},
    "/favicon.ico": {"GET": {"*": 302, "anonymous": "302 -> /static/favicon.svg"}},  # to the vendored SVG, for everyone
    # The node agent as one file: its code is no secret. Revoking a credential asks first (GET).
    "/agent/aimatrix-agent.pyz": {"GET": {"*": 200, "anonymous": 200}},
    "/agent/credentials/{pk}/revoke/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                        "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"},
                                                     writes=OPS)},
    "/metrics": {"GET": {"*": 200, "anonymous": 403}},  # staff may scrape; everyone in the matrix is staff
    "/search/": {"GET": OPEN},
    # A personal display setting (which columns a list shows), not a change to the fleet: no audit entry.
    "/preferences/columns/": {"POST": Case({"*": 302}, body={"table": "nodes.NodeTable", "columns": ["address"]},
                                           writes=NO_ONE)},  # every role searches; each sees only the rows its lists show
    "/nodes/": {"GET": OPEN},
    "/nodes/actions/": {"GET": {"*": 302},  # no destructive action named: back to the list
                        "POST": Case({"*": 302}, body={"action": "probe", "nodes": ["{node}"]}, writes=OPS)},
    "/nodes/import/": {"GET": {OPS: 200, OTHER: 200, "*": 403},  # the form only for who may import
                       # `step=commit` imports; without it the page previews and writes nothing.
                       "POST": Case({OPS: 302, "*": 403},
                                    body={"format": "json", "step": "commit",
                                          "content": '[{{"name": "imp-{role}", "address": "10.0.0.8"}}]'},
                                    writes=OPS)},
    # other-project may add nodes to its own project only: the form asks for one (400 next to the field).
    "/nodes/add/": {"GET": {OPS: 200, OTHER: 200, "*": 403},
                    "POST": Case({OPS: 302, OTHER: 400, "*": 403}, writes=OPS,
                                 body={"name": "page-{role}", "address": "10.0.0.10", "ssh_port": "22",
                                       "ssh_user": "root", "labels": "gpu, page"})},
    "/nodes/{pk}/": {"GET": {SEE: 200, "*": 404}},
    "/nodes/{pk}/edit/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                          "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, writes=OPS,
                                       body={"name": "{node}", "address": "10.0.0.7", "ssh_port": "22",
                                             "ssh_user": "root", "labels": "edited"})},
    "/nodes/{pk}/delete/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                            "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"}, writes=OPS)},
    "/nodes/{pk}/bmc/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                         "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, writes=OPS,
                                      body={"bmc_driver": "ipmi", "bmc_address": "10.0.0.20",
                                            "bmc_credential": "matrix-bmc"})},
    # The world's node has no BMC: the page says so and goes back to the node; nothing is written.
    "/nodes/{pk}/bmc/remove/": {"GET": {OPS: 302, MEMBER: 403, "*": 404},
                                "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"},
                                             writes=NO_ONE)},
    # Salt pages: minions follow their node's project; the world's salt-api answers nothing, so a key
    # operation that passes every check is refused with the master's error and changes nothing.
    "/nodes/{pk}/salt-enroll/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                 "POST": Case({OPS: 200, MEMBER: 403, "*": 404}, body={}, writes=OPS)},
    "/nodes/salt/": {"GET": OPEN},
    "/nodes/salt/runs/": {"GET": OPEN},
    # The batch install page (nodes.add_saltminion); an empty form is refused naming what is missing.
    "/nodes/salt/install/": {"GET": {OPS: 200, "*": 403},
                             "POST": Case({OPS: 400, "*": 403}, body={}, writes=NO_ONE)},
    "/nodes/salt/{pk}/": {"GET": {SEE: 200, "*": 404}},
    "/nodes/salt/{pk}/accept/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                 "POST": Case({OPS: 409, MEMBER: 403, "*": 404}, body={"fingerprint": FINGER},
                                              writes=NO_ONE)},
    "/nodes/salt/{pk}/reject/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                 "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"},
                                              writes=NO_ONE)},
    "/nodes/salt/{pk}/delete/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                 "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"},
                                              writes=NO_ONE)},
    "/nodes/salt/{pk}/run/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                              "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"fun": "test.ping"},
                                           writes=OPS)},
    "/nodes/{pk}/actions/": {"GET": {SEE: 302, "*": 404},  # no destructive action named: back to the node
                             "POST": Case({SEE: 302, "*": 404}, body={"action": "probe"}, writes=OPS)},
    # GPU pages: every role lists the GPUs of its projects; the GPU's page for who sees its node. Labels
    # and maintenance need `change` on the GPU (operators); the plain member sees it: 403.
    # Clusters: every role reads its projects' clusters; connecting needs clusters.add_cluster
    # (operators). The external page lists for everyone and refuses the form's POST to the rest.
    "/clusters/": {"GET": OPEN},
    "/clusters/external/": {"GET": OPEN,
                            "POST": Case({OPS: 302, "*": 403}, writes=OPS,
                                         body={"name": "page-{role}", "controller": "{node_id}", "action": "connect"})},
    "/clusters/{pk}/": {"GET": {SEE: 200, "*": 404}},
    "/clusters/{pk}/reservations/": {"GET": {SEE: 200, "*": 404}},
    "/clusters/{pk}/refresh/": {"POST": Case({OPS: 302, MEMBER: 302, "*": 404}, writes=OPS)},
    # Node states, repair and accounting need clusters.manage_cluster and `manage` on the cluster: the
    # member sees the cluster and is refused (a message and back, or 403 on forms). The world's
    # cluster keeps its own accounting (reuse_database): apply and check are refused, nothing written.
    "/clusters/{pk}/nodes/states/": {"POST": Case({OPS: 302, MEMBER: 302, "*": 404}, writes=OPS, body={
        "action": "drain", "pk": "{clusternode_id}", "reason": "contract", "confirm": "yes"})},
    "/clusters/{pk}/nodes/repair/": {"POST": Case({OPS: 302, MEMBER: 302, "*": 404}, writes=OPS)},
    # Scaling page: whoever sees the cluster (the world's is external: the forms say why not); the
    # POSTs report the refusal on the page (302 back), nothing written.
    "/clusters/{pk}/scaling/": {"GET": {SEE: 200, "*": 404},
                                "POST": Case({OPS: 302, MEMBER: 302, "*": 404}, body={"nodes": ["{node}"],
                                                                                     "action": "check"},
                                             writes=NO_ONE)},
    "/clusters/{pk}/scaling/down/": {"POST": Case({OPS: 302, MEMBER: 302, "*": 404}, body={"nodes": ["{node}"]},
                                                  writes=NO_ONE)},
    # Workflow pages: everyone signed in sees the page (runs they may see); starting one reports any
    # refusal on the page (the world's cluster is external: nothing starts, nothing written).
    "/clusters/workflows/": {"GET": OPEN},
    "/clusters/workflows/deploy/": {"POST": Case({"*": 302}, body={"node": "{node}", "cluster": "{cluster_id}"},
                                                 writes=NO_ONE)},
    "/clusters/workflows/cleanup/": {"POST": Case({"*": 302}, body={"node": "{node}", "cluster": "{cluster_id}"},
                                                  writes=NO_ONE)},
    "/clusters/{pk}/accounting/": {"GET": {SEE: 200, "*": 404}},
    "/clusters/{pk}/accounting/apply/": {"GET": {SEE: 200, "*": 404},
                                         "POST": Case({SEE: 302, "*": 404}, body={"confirm": "yes"}, writes=NO_ONE)},
    "/clusters/{pk}/accounting/check/": {"POST": Case({SEE: 302, "*": 404}, writes=NO_ONE)},
    "/clusters/{pk}/accounting/accounts/add/": {
        "GET": {OPS: 200, MEMBER: 403, "*": 404},
        "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, writes=OPS,
                     body={"project": "{project_id}", "account": "page-{role}", "gpus_per_job": "1"})},
    "/clusters/accounts/{pk}/edit/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                      "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"gpus_per_job": "2"},
                                                   prefill=True, writes=OPS)},
    "/clusters/accounts/{pk}/delete/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                        "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"},
                                                     writes=OPS)},
    # Configuration of managed clusters: only who may manage the cluster sees the files (they can
    # hold secrets); the world's cluster is external, so the page says the portal never renders it,
    # its forms answer 400 and its confirmations go back with that message; nothing is written.
    "/clusters/{pk}/config/": {"GET": {OPS: 200, MEMBER: 403, "*": 404}},
    "/clusters/{pk}/config/apply/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                     "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"},
                                                  writes=NO_ONE)},
    "/clusters/{pk}/partitions/add/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                       "POST": Case({OPS: 400, MEMBER: 403, "*": 404}, writes=NO_ONE,
                                                    body={"name": "page-{role}", "max_time": "60", "state": "UP"})},
    "/clusters/partitions/{pk}/edit/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                        "POST": Case({OPS: 400, MEMBER: 403, "*": 404}, writes=NO_ONE,
                                                     body={"name": "matrix-part", "max_time": "60", "state": "UP"})},
    "/clusters/partitions/{pk}/delete/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                          "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"},
                                                       writes=NO_ONE)},
    "/clusters/{pk}/nodes/add/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                  "POST": Case({OPS: 400, MEMBER: 403, "*": 404}, body={"node": "{node_id}"},
                                               writes=NO_ONE)},
    "/clusters/members/{pk}/remove/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                       "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"},
                                                    writes=NO_ONE)},
    "/clusters/{pk}/delete/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                               "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"}, writes=OPS)},
    # Slurm jobs: every role lists its projects' jobs; a cluster's job list is the list narrowed to it.
    # Actions ask first (GET); confirmed, an operator's reaches Slurm over SSH, which the world's
    # controller cannot answer: the page says why and nothing is written. Submitting needs
    # clusters.add_slurmjob and a Slurm user mapped to the submitter (operators here have none: 400).
    "/clusters/jobs/": {"GET": OPEN},
    "/clusters/jobs/{pk}/": {"GET": {SEE: 200, "*": 404}},
    **{f"/clusters/jobs/{{pk}}/{verb}/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                         "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, writes=NO_ONE,
                                                      body={"confirm": "yes", "signal": "TERM"})}
       for verb in ("cancel", "hold", "release", "requeue", "signal")},
    "/clusters/{pk}/jobs/": {"GET": {SEE: 302, "*": 404}},
    "/clusters/{pk}/jobs/submit/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                    "POST": Case({OPS: 400, MEMBER: 403, "*": 404}, writes=NO_ONE,
                                                 body={"script": "#!/bin/sh\ntrue\n", "nodes": "1", "cpus": "1",
                                                       "gpus": "0", "time_limit_min": "5"})},
    "/clusters/job-templates/": {"GET": OPEN},
    "/clusters/job-templates/new/": {"GET": {OPS: 200, "*": 403},
                                     "POST": Case({OPS: 302, "*": 403}, writes=OPS,
                                                  body={"name": "page-{role}", "script": "#!/bin/sh\ntrue\n",
                                                        "nodes": "1", "cpus": "1", "gpus": "0",
                                                        "time_limit_min": "5"})},
    "/clusters/job-templates/{pk}/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                      "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, prefill=True, writes=OPS,
                                                   body={"description": "changed"})},
    "/clusters/job-templates/{pk}/delete/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                             "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, body={"confirm": "yes"},
                                                          writes=OPS)},
    # GPU allocations of the world's project (pending: its quota sends requests to approval). Every role
    # lists its own projects' allocations; requesting needs allocations.add_allocation and a project to
    # put it in (operators: any; other-project may not use matrix-team: 400 next to the field).
    # Approve/reject need `approve` (operators here; project owners), extend `change`, release and
    # cancel `cancel`: the plain member sees the allocation and is refused (403).
    "/allocations/": {"GET": OPEN},
    "/allocations/approvals/": {"GET": OPEN},
    # Usage report and fleet timeline: every role sees its own projects' allocations only.
    "/allocations/usage/": {"GET": OPEN},
    "/allocations/timeline/": {"GET": OPEN},
    # Own SSH keys: every signed-in role adds its own (one audit entry each).
    "/allocations/ssh-keys/": {"GET": OPEN, "POST": Case({"*": 302}, writes=SIGNED_IN, body={
        "name": "k-{role}", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC3YC+UxM1TxplPGxsWcBCnWpMJyWETtfhRC7WaynIpA"})},
    "/allocations/new/": {"GET": {OPS: 200, OTHER: 200, MEMBER: 200, "*": 403},
                          "POST": Case({OPS: 302, MEMBER: 302, OTHER: 400, "*": 403}, writes=f"{OPS},{MEMBER}",
                                       body={"project": "{project_id}", "gpu_count": "1", "duration_hours": "1",
                                             "purpose": "page-{role}"})},
    "/allocations/{pk}/": {"GET": {SEE: 200, "*": 404}},
    **{f"/allocations/{{pk}}/{verb}/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                                       "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, writes=OPS, body=body)}
       for verb, body in (("approve", {"comment": "ok"}), ("reject", {"comment": "no"}), ("extend", {"hours": "1"}),
                          ("release", {"confirm": "yes"}), ("cancel", {"confirm": "yes"}))},
    "/gpus/": {"GET": OPEN},
    "/gpus/{pk}/": {"GET": {SEE: 200, "*": 404}},
    "/gpus/{pk}/edit/": {"GET": {OPS: 200, MEMBER: 403, "*": 404},
                         "POST": Case({OPS: 302, MEMBER: 403, "*": 404}, writes=OPS,
                                      body={"labels": "edited", "health": "maintenance",
                                            "health_reason": "contract"})},
    # Alerts: every role lists its projects' ones; acknowledging and silencing need events.ack_alert
    # (operators: the model permission is decided first, as in the API). Rules and the delivery log
    # are the operators'.
    "/alerts/": {"GET": OPEN},
    "/alerts/{pk}/ack/": {"POST": Case({OPS: 302, "*": 403}, writes=OPS)},
    "/alerts/{pk}/silence/": {"POST": Case({OPS: 302, "*": 403}, body={"seconds": "600"}, writes=OPS)},
    "/events/rules/": {"GET": {OPS: 200, "*": 403}},
    "/events/deliveries/": {"GET": {OPS: 200, "*": 403}},
    "/projects/": {"GET": OPEN},
    "/projects/{pk}/": {"GET": {SEE: 200, "*": 404}},
    # Only admin creates projects (rbac.add_project); the creator becomes the first owner.
    "/projects/new/": {"GET": {"admin": 200, "*": 403},
                       "POST": Case({"admin": 302, "*": 403}, body={"name": "page-{role}"}, writes="admin")},
    # Editing, deleting and the member and grant forms need change/delete/manage on the project:
    # admin (and the project's owners). sre and the plain member see it: 403; the rest: 404.
    "/projects/{pk}/edit/": {"GET": PROJECT_FORM,
                             "POST": Case(PROJECT_POST, body={"description": "edited"}, writes="admin")},
    "/projects/{pk}/delete/": {"GET": PROJECT_FORM,
                               "POST": Case(PROJECT_POST, body={"confirm": "yes"}, writes="admin")},
    "/projects/{pk}/members/": {"GET": PROJECT_FORM,
                                "POST": Case(PROJECT_POST, body={"username": "matrix-other", "role": "member"},
                                             writes="admin")},
    "/projects/{pk}/members/{username}/": {"GET": PROJECT_FORM,
                                           "POST": Case(PROJECT_POST, body={"role": "viewer"}, writes="admin")},
    "/projects/{pk}/members/{username}/remove/": {"GET": PROJECT_FORM,
                                                  "POST": Case(PROJECT_POST, body={"confirm": "yes"},
                                                               writes="admin")},
    # Granting needs manage on the object and on the project: admin. A steward of the object may
    # revoke, and sre stewards nodes; the plain member is refused with a message (no entry).
    "/projects/{pk}/grants/": {"GET": PROJECT_FORM, "POST": Case(PROJECT_POST, writes="admin", body=GRANT)},
    "/projects/{pk}/grants/{grant_id}/revoke/": {"GET": {SEE: 200, "*": 404},
                                                "POST": Case({SEE: 302, "*": 404}, body={"confirm": "yes"},
                                                             writes=OPS)},
}
