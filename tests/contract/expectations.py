"""Who gets what, for every route and method the portal answers: THE declarative table.

Keys are route templates as tests/contract/routes.py names them (`/api/v1/jobs/{pk}/`); values
map a method (or `ACTION <name>` for an admin action) to a role spec or a Case. A route the URL
conf gains without an entry here fails the contract; so does an entry whose route is gone.

The world (tests/contract/world.py): every object belongs to a project none of the matrix users
is in. So the intended answers are: operators (admin, sre) reach everything their model
permissions allow; everyone else gets 404 for objects (existence not revealed), 403 for what
they may see but not do, or for models they have no permission on at all; anonymous gets 401 on
the API and the login redirect on pages and the admin. `other-project` holds every node and
secret permission, and owns another project: only project scoping stands in its way.
`project-member` (an engineer, member of the objects' projects) sees the node and the projects
and is refused (403) every change to them.

A Case adds what a bare spec cannot say: `body` (formatted with the world's names: {role},
{node}, {secret_id}...), `writes=` (roles that must leave exactly one audit entry; by default the
roles answered 2xx on the API; pages and admin must say), `reveals=` (who may receive the secret
value), and known bugs: `bugs={role: reason}` keeps the correct expectation and xfails while the
answer differs; `audit_bugs` the same for the audit count. "not offered": an admin action the
change list does not offer that role. Format-suffix twins (`/x.{format}`) follow their route.
"""
from .spec import Case, admin_model

OPS = "admin,sre"
DEVS = "data-developer,model-developer,engineer,project-member"  # no key vault permission at all
DATA = "data-developer,model-developer"
OTHER = "other-project"
MEMBER = "project-member"  # an engineer, plain member of the objects' projects
SEE = "admin,sre,project-member"  # who sees the node and the projects
OPEN = {"*": 200}  # every signed-in role; anonymous gets its family default
NO_ONE = ""  # writes= nobody
ENG = "engineer,project-member,other-project"  # nodes.view_* (engineer group), no Salt changes
EVERYONE = "admin,sre,data-developer,model-developer,engineer,other-project,project-member,anonymous"
SIGNED_IN = "admin,sre,data-developer,model-developer,engineer,other-project,project-member"
FINGER = ":".join(["1b"] * 32)  # the world's pending minion key


GRANT = {"object_type": "keyvault.secret", "object_id": "{secret_id}", "permission": "view"}
PROJECT_FORM = {"admin": 200, "sre,project-member": 403, "*": 404}
PROJECT_POST = {"admin": 302, "sre,project-member": 403, "*": 404}
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

NODE = '{{"name": "api-{role}", "address": "10.0.0.9"}}'
API = {
    "/api/docs/": {"GET": OPEN},
    "/api/health": {"GET": {"*": 503, "anonymous": 503}},  # open to load balancers; no worker runs here
    "/api/schema/": {"GET": OPEN},
    "/api/v1/": {"GET": OPEN},
    "/api/v1/audit/": {"GET": {OPS: 200, "*": 403}},
    "/api/v1/audit/{pk}/": {"GET": {OPS: 200, "*": 403}},
    "/api/v1/jobs/": {"GET": OPEN, "POST": Case({OPS: 202, "*": 403}, body={"kind": "core.selfcheck"})},
    "/api/v1/jobs/{pk}/": {"GET": {OPS: 200, "*": 404}},
    "/api/v1/jobs/{pk}/cancel/": {"POST": {OPS: 202, "*": 404}},
    "/api/v1/jobs/{pk}/events/": {"GET": {OPS: 200, "*": 404}},
    "/api/v1/jobs/{pk}/retry/": {"POST": {OPS: 202, "*": 404}},
    "/api/v1/me/": {"GET": OPEN},
    "/api/v1/search/": {"GET": OPEN},  # each role finds only the rows its lists show
    "/api/v1/roles/": {"GET": OPEN},
    "/api/v1/users/": {"GET": OPEN},  # admin sees all users, everyone else only themselves
    "/api/v1/users/{pk}/": {"GET": {"admin": 200, "*": 404}},
    "/api/v1/users/{pk}/grants/": {
        "GET": {"admin": 200, "*": 404},
        "POST": Case({"admin": 201, "*": 404},
                     body={"object_type": "keyvault.secret", "object_id": "{secret_id}", "permission": "view"})},
    "/api/v1/users/{pk}/grants/{grant_id}/": {"DELETE": {"admin": 204, "*": 404}},
    "/api/v1/projects/": {"GET": OPEN, "POST": Case({"admin": 201, "*": 403}, body={"name": "new-{role}"})},
    "/api/v1/projects/{pk}/": {
        "GET": {SEE: 200, "*": 404},
        "PATCH": Case({"admin": 200, "sre,project-member": 403, "*": 404}, body={"description": "patched"}),
        "PUT": Case({"admin": 200, "sre,project-member": 403, "*": 404}, body={"description": "put"}),
        "DELETE": {"admin": 204, "sre,project-member": 403, "*": 404}},
    "/api/v1/projects/{pk}/members/": {
        "POST": Case({"admin": 201, "sre,project-member": 403, "*": 404}, body={"username": "matrix-other"})},
    "/api/v1/projects/{pk}/members/{username}/": {"DELETE": {"admin": 204, "sre,project-member": 403, "*": 404}},
    "/api/v1/projects/{pk}/grants/": {
        "GET": {SEE: 200, "*": 404},
        "POST": Case({"admin": 201, "sre,project-member": 403, "*": 404},
                     body={"object_type": "keyvault.secret", "object_id": "{secret_id}", "permission": "view"})},
    # sre stewards the node the grant is on: it may take the grant back.
    "/api/v1/projects/{pk}/grants/{grant_id}/": {"DELETE": {OPS: 204, MEMBER: 403, "*": 404}},
    # Redemption needs no login (the token is the credential); a forged token is refused alike.
    "/api/v1/keyvault/redeem/": {"POST": Case({"*": 403, "anonymous": 403},
                                              body={"token": "kv1.forged.token.x", "timestamp": "{now}"},
                                              writes=NO_ONE)},
    "/api/v1/keyvault/access-log/": {"GET": {OPS: 200, "*": 403}},
    "/api/v1/keyvault/access-log/{pk}/": {"GET": {OPS: 200, "*": 403}},
    "/api/v1/keyvault/redemptions/": {"GET": OPEN},
    "/api/v1/keyvault/redemptions/{pk}/": {"GET": {"admin": 200, "*": 404}},
    "/api/v1/keyvault/tokens/": {
        "GET": OPEN,
        "POST": Case({"admin": 201, "sre": 403, DEVS: 403, OTHER: 403},
                     body={"purpose": "secret", "subject": "{secret}"})},
    "/api/v1/keyvault/tokens/{pk}/": {"GET": {"admin": 200, "*": 404}, "DELETE": {"admin": 204, "*": 404}},
    "/api/v1/secrets/": {
        "GET": {OPS: 200, DEVS: 403, OTHER: 200},
        # other-project may add secrets to its own project only, not to none.
        "POST": Case({OPS: 201, DEVS: 403, OTHER: 403}, body={"name": "new-{role}", "value": "v"})},
    "/api/v1/secrets/{pk}/": {
        "GET": {OPS: 200, DEVS: 403, OTHER: 404},
        "PATCH": Case({OPS: 200, DEVS: 403, OTHER: 404}, body={"description": "patched"}),
        "PUT": Case({OPS: 200, DEVS: 403, OTHER: 404},
                    body={"name": "matrix-secret", "kind": "other", "description": "put"}),
        "DELETE": {"admin": 204, "sre": 403, DEVS: 403, OTHER: 404}},
    "/api/v1/secrets/{pk}/access-log/": {"GET": {OPS: 200, DEVS: 403, OTHER: 404}},
    "/api/v1/secrets/{pk}/reveal/": {"POST": Case({"admin": 200, "sre": 403, DEVS: 403, OTHER: 404},
                                                  body={"reason": "contract"}, reveals="admin")},
    "/api/v1/nodes/": {"GET": OPEN, "POST": Case({OPS: 201, "*": 403}, body={"name": "api-{role}",
                                                                             "address": "10.0.0.9"})},
    "/api/v1/nodes/import/": {"POST": Case({OPS: 201, "*": 403}, body={"format": "json", "content": f"[{NODE}]"})},
    # other-project may run commands, but not on a node it cannot see: "unknown node", as for any.
    "/api/v1/nodes/run-command/": {"POST": Case({OPS: 202, OTHER: 400, "*": 403},
                                                body={"nodes": ["{node}"], "argv": ["uptime"]})},
    "/api/v1/nodes/{pk}/": {
        "GET": {SEE: 200, "*": 404},
        "PATCH": Case({OPS: 200, MEMBER: 403, "*": 404}, body={"labels": ["patched"]}),
        "PUT": Case({OPS: 200, MEMBER: 403, "*": 404}, body={"name": "matrix-node", "address": "10.0.0.7"}),
        "DELETE": {OPS: 204, MEMBER: 403, "*": 404}},
    "/api/v1/nodes/{pk}/bmc/": {"PUT": Case({OPS: 200, MEMBER: 403, "*": 404},
                                            body={"driver": "ipmi", "address": "10.0.0.20",
                                                  "credential": "matrix-bmc"})},
    "/api/v1/nodes/{pk}/boot-device/": {"POST": Case({OPS: 202, MEMBER: 403, "*": 404}, body={"device": "pxe"})},
    "/api/v1/nodes/{pk}/events/": {"GET": {SEE: 200, "*": 404}},
    "/api/v1/nodes/{pk}/metrics/": {"GET": {SEE: 200, "*": 404}},  # the node page's charts (node samples)
    "/api/v1/nodes/{pk}/host-keys/{key_id}/approve/": {"POST": {OPS: 200, MEMBER: 403, "*": 404}},
    "/api/v1/nodes/{pk}/host-keys/{key_id}/revoke/": {"POST": {OPS: 200, MEMBER: 403, "*": 404}},
    "/api/v1/nodes/{pk}/power/": {"POST": Case({OPS: 202, MEMBER: 403, "*": 404}, body={"action": "on"})},
    "/api/v1/nodes/{pk}/probe/": {"POST": {OPS: 202, MEMBER: 403, "*": 404}},
    "/api/v1/nodes/{pk}/test-connection/": {"POST": {OPS: 202, MEMBER: 403, "*": 404}},
    # Clusters (the seed's external flow): connect and test-connection need clusters.add_cluster;
    # refresh needs change on the cluster; DELETE forgets it in the portal only.
    "/api/v1/clusters/": {"GET": OPEN},
    "/api/v1/clusters/test-connection/": {"POST": Case({OPS: 200, "*": 403}, body={"controller": "{node_id}"},
                                                       writes=NO_ONE)},
    "/api/v1/clusters/connect/": {"POST": Case({OPS: 202, "*": 403},
                                               body={"name": "api-{role}", "controller": "{node_id}"})},
    "/api/v1/clusters/{pk}/": {"GET": {SEE: 200, "*": 404},
                               "PATCH": Case({OPS: 200, "*": 403}, body={"description": "patched"}),
                               "PUT": Case({OPS: 200, "*": 403}, body={"description": "put"}),
                               "DELETE": {OPS: 204, "*": 403}},
    "/api/v1/clusters/{pk}/info/": {"GET": {SEE: 200, "*": 404}},
    "/api/v1/clusters/{pk}/metrics/": {"GET": {SEE: 200, "*": 404}},
    "/api/v1/clusters/{pk}/reservations/": {"GET": {SEE: 200, "*": 404}},
    # Configuration of managed clusters: the world's cluster is external, so who may manage it is
    # refused by name (400: the portal never renders an external cluster's slurm.conf).
    "/api/v1/clusters/{pk}/nodes/": {"GET": {SEE: 200, "*": 404},
                                     "POST": Case({OPS: 400, MEMBER: 403, "*": 404}, body={"node": "{node_id}"})},
    "/api/v1/clusters/{pk}/partitions/": {"GET": {SEE: 200, "*": 404},
                                          "POST": Case({OPS: 400, MEMBER: 403, "*": 404},
                                                       body={"name": "part-{role}"})},
    "/api/v1/clusters/{pk}/config/": {"GET": {OPS: 400, MEMBER: 403, "*": 404}},
    "/api/v1/clusters/{pk}/config/apply/": {"POST": Case({OPS: 400, MEMBER: 403, "*": 404}, writes=NO_ONE)},
    "/api/v1/clusters/partitions/{pk}/": {"GET": {SEE: 200, "*": 404},
                                          "PATCH": Case({OPS: 400, MEMBER: 403, "*": 404}, body={"max_time": "60"}),
                                          "DELETE": {OPS: 400, MEMBER: 403, "*": 404}},
    "/api/v1/clusters/members/{pk}/": {"GET": {SEE: 200, "*": 404}, "DELETE": {OPS: 400, MEMBER: 403, "*": 404}},
    "/api/v1/clusters/{pk}/refresh/": {"POST": {OPS: 202, "*": 403}},
    # Node states, repair and accounting: `manage` on the cluster (403 for the member who sees it).
    # The world's cluster keeps its own accounting (reuse_database): diff, apply and check answer 409.
    "/api/v1/clusters/{pk}/nodes/manage/": {"POST": Case({OPS: 202, MEMBER: 403, "*": 404},
                                                         body={"nodes": ["{node}"], "action": "drain",
                                                               "reason": "contract"})},
    "/api/v1/clusters/{pk}/health/": {"POST": {OPS: 202, MEMBER: 403, "*": 404}},
    # Scaling through Salt: `manage` on a managed cluster; the world's cluster is external (400 by name).
    "/api/v1/clusters/{pk}/nodes/check-salt/": {"POST": Case({OPS: 400, MEMBER: 403, "*": 404},
                                                             body={"nodes": ["{node}"]}, writes=NO_ONE)},
    "/api/v1/clusters/{pk}/nodes/scale/": {"POST": Case({OPS: 400, MEMBER: 403, "*": 404},
                                                        body={"nodes": ["{node}"]}, writes=NO_ONE)},
    "/api/v1/clusters/{pk}/nodes/scale-down/": {"POST": Case({OPS: 400, MEMBER: 403, "*": 404},
                                                             body={"nodes": ["{node}"]}, writes=NO_ONE)},
    # Workflows (deploy / cleanup jobs): the list shows the runs each user may see. Starting one names
    # the cluster in the body: unknown to who does not see it (400), refused (403) to the member who
    # sees but may not manage it, and 400 for operators (the world's cluster is external).
    "/api/v1/workflows/": {"GET": OPEN},
    "/api/v1/workflows/deploy/": {"POST": Case({OPS: 400, MEMBER: 403, "*": 400},
                                               body={"node": "{node}", "cluster": "{cluster_id}"}, writes=NO_ONE)},
    "/api/v1/workflows/cleanup/": {"POST": Case({OPS: 400, MEMBER: 403, "*": 400},
                                                body={"node": "{node}", "cluster": "{cluster_id}"}, writes=NO_ONE)},
    "/api/v1/clusters/{pk}/accounts/": {"GET": {SEE: 200, "*": 404},
                                        "POST": Case({OPS: 201, MEMBER: 403, "*": 404},
                                                     body={"project": "{project}", "account": "acct-{role}",
                                                           "gpus_per_job": 1})},
    "/api/v1/clusters/{pk}/accounts/diff/": {"GET": {OPS: 409, MEMBER: 403, "*": 404}},
    "/api/v1/clusters/{pk}/accounts/apply/": {"POST": Case({OPS: 409, MEMBER: 403, "*": 404}, writes=NO_ONE)},
    "/api/v1/clusters/{pk}/accounts/check/": {"POST": Case({OPS: 409, MEMBER: 403, "*": 404}, writes=NO_ONE)},
    "/api/v1/clusters/{pk}/associations/": {"GET": {SEE: 200, "*": 404}},
    "/api/v1/clusters/{pk}/qos/": {"GET": {SEE: 200, "*": 404}},
    "/api/v1/clusters/accounts/{pk}/": {"GET": {SEE: 200, "*": 404},
                                        "PATCH": Case({OPS: 200, MEMBER: 403, "*": 404}, body={"gpus_per_job": 2}),
                                        "DELETE": {OPS: 204, MEMBER: 403, "*": 404}},
    # Slurm jobs API: reads for whoever sees the job or cluster. Actions need clusters.cancel_slurmjob
    # (POST: the model's add permission first, so engineers get 403); an operator's reaches Slurm over
    # SSH, which the world's controller cannot answer (502, nothing written). Submitting: 400 for
    # operators (no Slurm user mapped), 404 for developers (the cluster is not theirs). History: the
    # world's cluster keeps no accounting (409).
    "/api/v1/slurm-jobs/": {"GET": OPEN},
    "/api/v1/slurm-jobs/{pk}/": {"GET": {SEE: 200, "*": 404}},
    "/api/v1/slurm-jobs/{pk}/output/": {"GET": {SEE: 200, "*": 404}},
    "/api/v1/slurm-jobs/{pk}/efficiency/": {"GET": {SEE: 200, "*": 404}},
    **{f"/api/v1/slurm-jobs/{{pk}}/{verb}/": {"POST": Case({OPS: 502, DATA: 404, "*": 403}, writes=NO_ONE,
                                                          body={"signal": "TERM"})}
       for verb in ("cancel", "hold", "release", "requeue", "signal")},
    "/api/v1/clusters/{pk}/jobs/": {"GET": {SEE: 200, "*": 404},
                                    "POST": Case({OPS: 400, DATA: 404, "*": 403}, writes=NO_ONE,
                                                 body={"script": "#!/bin/sh\ntrue\n"})},
    "/api/v1/clusters/{pk}/jobs/history/": {"GET": {SEE: 409, "*": 404}},
    "/api/v1/clusters/idle-gpu-jobs/": {"GET": OPEN},
    "/api/v1/job-templates/": {"GET": OPEN,
                               "POST": Case({OPS: 201, "*": 403}, body={"name": "api-{role}", "script": "#!/bin/sh\n"})},
    # Allocations API (see the pages above). POST: the project by name among those the user sees
    # (400 otherwise). DELETE releases: it needs allocations.cancel_allocation (model level first: 403).
    "/api/v1/allocations/": {"GET": OPEN,
                             "POST": Case({OPS: 201, MEMBER: 201, "*": 400},
                                          body={"project": "{project}", "gpu_count": 1, "duration_hours": 1})},
    "/api/v1/allocations/availability/": {"GET": OPEN},
    "/api/v1/allocations/usage/": {"GET": OPEN},
    "/api/v1/allocations/ssh-keys/": {"GET": OPEN, "POST": Case({"*": 201}, body={
        "name": "k-{role}", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEkEHHLquG2TPcHGjVHbiyB7E0lriV1wez3ZiyS4ShKq"})},
    "/api/v1/allocations/{pk}/": {"GET": {SEE: 200, "*": 404}, "DELETE": {OPS: 200, DATA: 404, "*": 403}},
    **{f"/api/v1/allocations/{{pk}}/{verb}/": {"POST": Case({OPS: 200, MEMBER: 403, "*": 404}, body=body)}
       for verb, body in (("approve", {"comment": "ok"}), ("reject", {"comment": "no"}), ("extend", {"hours": 1}),
                          ("cancel", {}))},
    "/api/v1/job-templates/{pk}/": {"GET": {SEE: 200, "*": 404},
                                    "PATCH": Case({OPS: 200, "*": 403}, body={"description": "patched"}),
                                    "PUT": Case({OPS: 200, "*": 403}, body={"name": "put-{role}", "script": "#!/bin/sh\n"}),
                                    "DELETE": {OPS: 204, "*": 403}},
    # GPUs: every role may read GPUs (its projects' ones); writes need gpus.change_gpu (model level: 403).
    "/api/v1/gpus/": {"GET": OPEN},
    "/api/v1/gpus/summary/": {"GET": OPEN},
    "/api/v1/gpus/{pk}/": {"GET": {SEE: 200, "*": 404},
                           "PATCH": Case({OPS: 200, "*": 403}, body={"labels": ["patched"]}),
                           "PUT": Case({OPS: 200, "*": 403}, body={"labels": ["put"]})},
    "/api/v1/gpus/{pk}/metrics/": {"GET": {SEE: 200, "*": 404}},
    "/api/v1/gpus/{pk}/status/": {"GET": {SEE: 200, "*": 404}},
    # A user push names the node: gpus.push_telemetry (operators) and `use` on the node. A new GPU
    # in the inventory is the one audit entry (samples alone write none).
    "/api/v1/telemetry/": {"POST": Case({OPS: 201, "*": 403}, body={
        "node": "{node}", "version": 1,
        "inventory": [{"index": 0, "uuid": "GPU-matrix"}, {"index": 1, "uuid": "GPU-push-{role}"}]})},
    # Node agent: enrollment needs no login (the one-time token is the credential); a forged one is
    # refused alike. Credentials: metadata for who sees the node; revoking needs change on the model.
    "/api/v1/agent/enroll/": {"POST": Case({"*": 403, "anonymous": 403},
                                           body={"token": "kv1.forged.token.x", "timestamp": "{now}"},
                                           writes=NO_ONE)},
    "/api/v1/agent/credentials/": {"GET": OPEN},
    "/api/v1/agent/credentials/{pk}/": {"GET": {SEE: 200, "*": 404}},
    "/api/v1/agent/credentials/{pk}/revoke/": {"POST": Case({OPS: 200, "*": 403}, body={"reason": "contract"})},
    # Salt (apps/nodes/api/salt.py). Minions follow their node's project; engineers (and the
    # engineer-based other-project) hold nodes.view_*. The world's salt-api answers nothing, so key
    # operations that pass every check end 409 (master unreachable) and change nothing.
    "/api/v1/salt/minions/": {"GET": {OPS: 200, ENG: 200, DATA: 403}},
    "/api/v1/salt/minions/run/": {"POST": Case({OPS: 202, MEMBER: 403, "*": 400},
                                               body={"minions": ["{node}"], "fun": "test.ping"})},
    "/api/v1/salt/minions/{pk}/": {"GET": {SEE: 200, "engineer,other-project": 404, DATA: 403},
                                   "DELETE": Case({OPS: 409, "*": 403}, writes=NO_ONE)},
    "/api/v1/salt/minions/{pk}/accept/": {"POST": Case({OPS: 409, "*": 403}, writes=NO_ONE,
                                                       body={"fingerprint": FINGER})},
    "/api/v1/salt/minions/{pk}/reject/": {"POST": Case({OPS: 409, "*": 403}, writes=NO_ONE)},
    "/api/v1/salt/minions/{pk}/ping/": {"POST": {OPS: 202, "*": 403}},
    "/api/v1/salt/minions/{pk}/version/": {"POST": {OPS: 202, "*": 403}},
    "/api/v1/salt/minions/{pk}/grains/": {"POST": {OPS: 202, "*": 403}},
    "/api/v1/salt/runs/": {"GET": {OPS: 200, ENG: 200, DATA: 403}},
    "/api/v1/salt/runs/{pk}/": {"GET": {OPS: 200, ENG: 404, DATA: 403}},
    # Enrolling a node (one-time token of purpose salt-enrollment): change on the node.
    "/api/v1/nodes/{pk}/enroll/": {"POST": Case({OPS: 201, MEMBER: 403, "*": 404}, body={})},
    # The bootstrap's calls need no login (the tokens are the credentials); every refusal is audited.
    "/api/v1/salt/enroll/": {"POST": Case({"*": 403, "anonymous": 403}, writes=EVERYONE,
                                          body={"token": "kv1.forged.token.x", "timestamp": "{now}"})},
    "/api/v1/salt/enroll/report/": {"POST": Case({"*": 401, "anonymous": 401}, writes=EVERYONE,
                                                 body={"report_token": "r" * 43, "fingerprint": FINGER})},
    "/api/v1/salt/enroll/hmac/": {"POST": Case({"*": 403, "anonymous": 403}, writes=EVERYONE, body={
        "minion_id": "{node}", "timestamp": "{now}", "nonce": "matrixnonce00000", "signature": "0" * 64})},
    "/api/v1/salt/bootstrap.sh": {"GET": {"*": 200, "anonymous": 200}},
    # The seed's server paths: aliases of the nodes API (same permissions).
    "/api/v1/servers/": {"GET": OPEN, "POST": Case({OPS: 201, "*": 403}, body={"name": "srv-{role}",
                                                                               "address": "10.0.0.9"})},
    "/api/v1/servers/{pk}/power/": {"POST": Case({OPS: 202, MEMBER: 403, "*": 404}, body={"action": "on"})},
    "/api/v1/servers/{pk}/status/": {"GET": {SEE: 200, "*": 404}},
    # Events and alerts: every role reads its projects' ones (events.view_event, view_alert); rules and
    # webhook deliveries are the operators' (no other role has a permission on them: 403).
    "/api/v1/events/": {"GET": OPEN},
    "/api/v1/events/{pk}/": {"GET": {SEE: 200, "*": 404}},
    "/api/v1/event-rules/": {"GET": {OPS: 200, "*": 403},
                             "POST": Case({OPS: 201, "*": 403},
                                          body={"name": "rule-{role}", "email_recipients": ["ops@example.com"]})},
    "/api/v1/event-rules/{pk}/": {
        "GET": {OPS: 200, "*": 403},
        "PATCH": Case({OPS: 200, "*": 403}, body={"enabled": False}),
        "PUT": Case({OPS: 200, "*": 403}, body={"name": "matrix-rule", "email_recipients": ["ops@example.com"]}),
        "DELETE": {OPS: 204, "*": 403}},
    "/api/v1/webhook-deliveries/": {"GET": {OPS: 200, "*": 403}},
    "/api/v1/webhook-deliveries/{pk}/": {"GET": {OPS: 200, "*": 403}},
    "/api/v1/alert-rules/": {"GET": {OPS: 200, "*": 403},
                             "POST": Case({OPS: 201, "*": 403},
                                          body={"name": "alert-rule-{role}", "metric": "gpu.power_w", "threshold": 500})},
    "/api/v1/alert-rules/{pk}/": {
        "GET": {OPS: 200, "*": 403},
        "PATCH": Case({OPS: 200, "*": 403}, body={"threshold": 650}),
        "PUT": Case({OPS: 200, "*": 403}, body={"name": "matrix-alert-rule", "metric": "gpu.power_w", "threshold": 640}),
        "DELETE": {OPS: 204, "*": 403}},
    "/api/v1/alerts/": {"GET": OPEN},
    "/api/v1/alerts/{pk}/": {"GET": {SEE: 200, "*": 404}},
    # Acknowledging and silencing need events.ack_alert (operators); every other role: 403 first.
    "/api/v1/alerts/{pk}/ack/": {"POST": {OPS: 200, "*": 403}},
    "/api/v1/alerts/{pk}/silence/": {"POST": Case({OPS: 200, "*": 403}, body={"seconds": 600})},
}

# --- the admin -------------------------------------------------------------------------------
# Objects out of reach: the change/history/delete pages redirect to the admin index ("does not
# exist"), as Django does for objects outside get_queryset(); roles without any permission on the
# model get 403 first. Read-only models (logs) can be added, changed or deleted by no one.
ADMIN_SITE = {
    "/admin/": {"GET": OPEN},
    "/admin/login/": {"GET": {"*": 302, "anonymous": 200}, "POST": Case({"*": 200, "anonymous": 200},
                                                                      writes=NO_ONE)},
    "/admin/logout/": {"GET": {"*": 405, "anonymous": "302 -> /admin/"},
                       "POST": Case({"*": 302, "anonymous": "302 -> /admin/"}, writes=NO_ONE)},
    "/admin/password_change/": {"GET": OPEN, "POST": Case(OPEN, writes=NO_ONE)},
    "/admin/password_change/done/": {"GET": OPEN},
    # Members' user field: user names only for those who may change memberships.
    "/admin/autocomplete/": {"GET": Case({"admin": 200, "*": 403}, body={
        "app_label": "rbac", "model_name": "membership", "field_name": "user", "term": "matrix"})},
    "/admin/jsi18n/": {"GET": OPEN},
    # "View on site" for a node: only who may see the node is sent to its page; for everyone else it
    # does not exist (Django's own shortcut redirected any staff user, revealing the node).
    "/admin/r/{content_type_id}/{object_id}/": {"GET": {SEE: 302, "*": 404}},
    "/admin/{app_label}/": {"GET": {OPS: 200, "*": 404}},  # the jobs app
    "/admin/{url}": {"GET": {"*": 404}},
    "/admin/jobs/job/start/{kind}/": {"GET": {"*": 302}, "POST": Case({"*": 302}, writes=OPS)},
    "/admin/nodes/node/import/": {
        "GET": {OPS: 200, OTHER: 200, "*": 403},  # other-project may import into its own project
        "POST": Case({OPS: 302, "*": 403}, body={"format": "json", "step": "commit", "content": f"[{NODE}]"},
                     writes=OPS)},
}

READ_ONLY = {"add": {"*": 403}, "delete": {"*": 403}, "add_post": Case({"*": 403}, writes=NO_ONE),
             "change_post": Case({"*": 403}, writes=NO_ONE), "delete_post": Case({"*": 403}, writes=NO_ONE)}
ADMIN = {"admin": 200, "*": 403}


def _w(roles, spec, **kw):
    """An admin write: `roles` must each leave exactly one audit entry."""
    return Case(spec, writes=roles, **kw)


def _read_only(label, *, view, change=None, history=None):
    """Logs, and the models other packages register (tokens, beat schedules, lockouts): viewable
    by who may, changed by no one in the admin."""
    return admin_model(label, view=view, change=change, history=history, **READ_ONLY)


BEAT = {OPS: 200, "*": 403}  # sre: django_celery_beat.view_*
# API token keys are never shown, not even to admin: the list only.
TOKEN_PAGE = {"*": 403}
TOKEN_HISTORY = {"admin": 403, "*": 302}


ADMIN_MODELS = {
    **admin_model("auth.group", view=ADMIN, history={"admin": 200, "*": 302}, **READ_ONLY),
    **admin_model("auth.user", view=ADMIN, add=ADMIN, delete=ADMIN, history={"admin": 200, "*": 302},
                  add_post=_w("admin", {"admin": 302, "*": 403},
                              body={"username": "adm-{role}", "password1": "pw-Contract-Matrix-9",
                                    "password2": "pw-Contract-Matrix-9", "usable_password": "true"}),
                  change_post=_w("admin", {"admin": 302, "*": 403}, body={"first_name": "Changed"}),
                  delete_post=_w("admin", {"admin": 302, "*": 403}),
                  actions={"delete_selected": _w("admin", {"admin": 302, "*": 403})}),
    "/admin/auth/user/{id}/password/": {"GET": ADMIN},
    **_read_only("authtoken.tokenproxy", view=ADMIN, change=TOKEN_PAGE, history=TOKEN_HISTORY),
    **_read_only("axes.accessattempt", view=ADMIN, history={"admin": 200, "*": 302}),
    **_read_only("axes.accesslog", view=ADMIN, history={"admin": 200, "*": 302}),
    **_read_only("axes.accessfailurelog", view=ADMIN, history={"admin": 200, "*": 302}),
    **_read_only("django_celery_beat.clockedschedule", view=BEAT, history={OPS: 200, "*": 302}),
    **_read_only("django_celery_beat.crontabschedule", view=BEAT, history={OPS: 200, "*": 302}),
    **_read_only("django_celery_beat.intervalschedule", view=BEAT, history={OPS: 200, "*": 302}),
    **_read_only("django_celery_beat.solarschedule", view=BEAT, history={OPS: 200, "*": 302}),
    **_read_only("django_celery_beat.periodictask", view=BEAT, history={OPS: 200, "*": 302}),
    **admin_model("core.auditevent", view={OPS: 200, "*": 403}, history={OPS: 200, "*": 302}, **READ_ONLY),
    # Both jobs are selected for actions: cancel ends the active one, retry restarts the ended one.
    **admin_model("jobs.job", view={OPS: 200, "*": 403}, history={OPS: 200, "*": 302}, **READ_ONLY,
                  actions={"cancel_jobs": _w(OPS, {OPS: 302, "*": 403}),
                           "retry_jobs": _w(OPS, {OPS: 302, "*": 403})}),
    **admin_model("keyvault.secret", view={OPS: 200, OTHER: 200, DEVS: 403},
                  change={OPS: 200, OTHER: 302, DEVS: 403}, history={OPS: 200, "*": 302},
                  add={OPS: 200, OTHER: 200, DEVS: 403}, delete={"admin": 200, OTHER: 302, "*": 403},
                  add_post=_w(OPS, {OPS: 302, OTHER: 200, DEVS: 403},
                              body={"name": "adm-{role}", "kind": "other", "new_value": "v"}),
                  change_post=_w(OPS, {OPS: 302, OTHER: 302, DEVS: 403}, body={"description": "changed"}),
                  delete_post=_w("admin", {"admin": 302, OTHER: 302, "*": 403}),
                  actions={"delete_selected": _w("admin", {"admin": 302, "sre": "not offered",
                                                           OTHER: 302, "*": 403})}),
    **admin_model("keyvault.onetimetoken", view=ADMIN, history={"admin": 200, "*": 302}, **READ_ONLY,
                  actions={"revoke_tokens": _w("admin", {"admin": 302, "*": 403})}),
    **admin_model("keyvault.secretaccess", view={OPS: 200, "*": 403}, history={OPS: 200, "*": 302}, **READ_ONLY),
    **admin_model("keyvault.tokenredemption", view=ADMIN, history={"admin": 200, "*": 302}, **READ_ONLY),
    # Clusters: connected on their page or the API (no admin add); operators edit, refresh and forget
    # them; project members see their project's cluster. Partitions, nodes and jobs come from Slurm.
    **admin_model("clusters.cluster", view={OPS: 200, "*": 200}, change={SEE: 200, "*": 302},
                  history={SEE: 200, "*": 302}, add={"*": 403}, delete={OPS: 200, "*": 403},
                  add_post=Case({"*": 403}, writes=NO_ONE),
                  change_post=_w(OPS, {OPS: 302, "*": 403}, body={"description": "changed"}),
                  delete_post=_w(OPS, {OPS: 302, "*": 403}),
                  actions={"refresh": _w(OPS, {OPS: 302, "*": 302}),
                           # The world's cluster keeps its own accounting: the check is refused, nothing written.
                           "repair_nodes": _w(OPS, {OPS: 302, "*": 302}),
                           "check_accounting": Case({OPS: 302, "*": 302}, writes=NO_ONE),
                           "delete_selected": _w(OPS, {OPS: 302, "*": "not offered"})}),
    **_read_only("clusters.partition", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    **_read_only("clusters.clusternode", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    # Job actions go through the same service as the API: the world's controller cannot be reached,
    # so operators' attempts end in a message (no audit entry); others are refused by the service.
    **admin_model("clusters.slurmjob", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302},
                  **READ_ONLY, actions={name: Case({"*": 302}, writes=NO_ONE)
                                        for name in ("cancel_jobs", "hold_jobs", "release_jobs")}),
    **_read_only("clusters.jobtemplate", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    **_read_only("clusters.slurmuser", view=OPEN, change={OPS: 200, "*": 302}, history={OPS: 200, "*": 302}),
    **_read_only("clusters.projectaccount", view=OPEN, change={SEE: 200, "*": 302},
                 history={SEE: 200, "*": 302}),
    # Allocations change through their pages and API only; quotas are the operators' (through the service).
    **_read_only("allocations.allocation", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    **admin_model("allocations.projectquota", view={OPS: 200, "*": 403}, history={OPS: 200, "*": 302},
                  add={OPS: 200, "*": 403}, delete={OPS: 200, "*": 403},
                  add_post=_w(OPS, {OPS: 302, "*": 403}, body={"project": "{project_id}", "concurrent_gpus": "4",
                                                               "over_quota": "approval"}),
                  change_post=_w(OPS, {OPS: 302, "*": 403}, body={"concurrent_gpus": "3"}),
                  delete_post=_w(OPS, {OPS: 302, "*": 403}),
                  actions={"delete_selected": _w(OPS, {OPS: 302, "*": 403})}),
    **admin_model("nodes.node", view={OPS: 200, DATA: 403, "engineer,other-project,project-member": 200},
                  change={SEE: 200, DATA: 403, "engineer,other-project": 302}, history={SEE: 200, "*": 302},
                  add={OPS: 200, OTHER: 200, "*": 403}, delete={OPS: 200, OTHER: 302, "*": 403},
                  add_post=_w(OPS, {OPS: 302, "*": 403}, body={"name": "adm-{role}", "address": "10.0.0.12"}),
                  change_post=_w(OPS, {OPS: 302, OTHER: 302, "*": 403}, body={"labels": '["changed"]'}),
                  delete_post=_w(OPS, {OPS: 302, OTHER: 302, "*": 403}),
                  actions={"test_connection": _w(OPS, {OPS: 302, DATA: 403, "*": 302}),
                           # tokens shown once on the answer page; project-member may not change the node
                           "enroll_in_salt": _w(OPS, {OPS: 200, DATA: 403, "*": 302}),
                           "probe": _w(OPS, {OPS: 302, DATA: 403, "*": 302}),
                           "approve_pending_keys": _w(OPS, {OPS: 302, DATA: 403, "*": 302}),
                           "delete_selected": _w(OPS, {OPS: 302, DATA: 403, "engineer,project-member": "not offered",
                                                       OTHER: 302})}),
    # GPUs come from inventory (no add); operators change labels and health; only a vanished GPU may be
    # deleted, so deleting the world's present one is refused (409) with no audit entry.
    **admin_model("gpus.gpu", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302},
                  add={"*": 403}, delete={OPS: 200, "*": 403},
                  add_post=Case({"*": 403}, writes=NO_ONE),
                  change_post=_w(OPS, {OPS: 302, "*": 403}, body={"labels": '["changed"]'}),
                  delete_post=Case({OPS: 409, "*": 403}, writes=NO_ONE),
                  actions={"delete_selected": Case({OPS: 409, "*": "not offered"}, writes=NO_ONE)}),
    # Salt: masters and groups have no project (operators only); minions and enrollments follow their node.
    **admin_model("nodes.saltmaster", view={OPS: 200, ENG: 200, DATA: 403}, change={OPS: 200, ENG: 302, DATA: 403},
                  history={OPS: 200, "*": 302}, add={OPS: 200, "*": 403}, delete={OPS: 200, "*": 403},
                  add_post=_w(OPS, {OPS: 302, "*": 403}, body={
                      "name": "adm-{role}", "api_url": "https://10.0.0.31:8000", "eauth": "pam",
                      "credential": "{secret_id}", "master_address": "10.0.0.31",
                      "public_key": "-----BEGIN PUBLIC KEY-----\nMIIBadm\n-----END PUBLIC KEY-----"}),
                  change_post=_w(OPS, {OPS: 302, "*": 403}, body={"master_address": "10.0.0.32"}),
                  delete_post=_w(OPS, {OPS: 302, "*": 403}),
                  actions={"delete_selected": _w(OPS, {OPS: 302, ENG: "not offered", DATA: 403}),
                           "refresh": _w(OPS, {OPS: 302, ENG: "not offered", DATA: 403})}),
    **admin_model("nodes.saltminiongroup", view={OPS: 200, ENG: 200, DATA: 403},
                  change={OPS: 200, ENG: 302, DATA: 403}, history={OPS: 200, "*": 302},
                  add={OPS: 200, "*": 403}, delete={OPS: 200, "*": 403},
                  add_post=_w(OPS, {OPS: 302, "*": 403}, body={"master": "{saltmaster_id}", "name": "adm-{role}"}),
                  change_post=_w(OPS, {OPS: 302, "*": 403}, body={"description": "changed"}),
                  delete_post=_w(OPS, {OPS: 302, "*": 403}),
                  actions={"delete_selected": _w(OPS, {OPS: 302, ENG: "not offered", DATA: 403})}),
    # The world's salt-api answers nothing: key actions are refused with a message and change nothing.
    **admin_model("nodes.saltminion", view={OPS: 200, ENG: 200, DATA: 403},
                  change={SEE: 200, "engineer,other-project": 302, DATA: 403}, history={SEE: 200, "*": 302},
                  **READ_ONLY, actions={
                      "accept_reported": Case({OPS: 302, ENG: "not offered", DATA: 403}, writes=NO_ONE),
                      "reject_keys": Case({OPS: 302, ENG: "not offered", DATA: 403}, writes=NO_ONE),
                      "ping": _w(OPS, {OPS: 302, ENG: "not offered", DATA: 403}),
                      "read_grains": _w(OPS, {OPS: 302, ENG: "not offered", DATA: 403}),
                      "apply_slurm_node": _w(OPS, {OPS: 302, ENG: "not offered", DATA: 403})}),
    **_read_only("nodes.saltrun", view={OPS: 200, ENG: 200, DATA: 403}, change={OPS: 200, ENG: 302, DATA: 403},
                 history={OPS: 200, "*": 302}),
    **_read_only("nodes.saltenrollment", view={OPS: 200, ENG: 200, DATA: 403},
                 change={SEE: 200, "engineer,other-project": 302, DATA: 403}, history={SEE: 200, "*": 302}),
    **_read_only("gpus.gpuevent", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    **_read_only("gpus.gpusample", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    **_read_only("gpus.nodesample", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    **_read_only("gpus.gpurollup1m", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    **_read_only("gpus.gpurollup1h", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    # Agent credentials: read-only rows; the revoke action is offered to who may change them.
    **admin_model("gpus.nodecredential", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302},
                  **READ_ONLY, actions={"revoke_credentials": _w(OPS, {OPS: 302, "*": "not offered"})}),
    # Events and alerts are written by the services (read-only here); rules are the operators', saved
    # through the services (one audit entry each).
    **_read_only("events.event", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    **_read_only("events.alert", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302}),
    **_read_only("events.webhookdelivery", view={OPS: 200, "*": 403}, history={OPS: 200, "*": 302}),
    **admin_model("events.eventrule", view={OPS: 200, "*": 403}, history={OPS: 200, "*": 302},
                  add={OPS: 200, "*": 403}, delete={OPS: 200, "*": 403},
                  add_post=_w(OPS, {OPS: 302, "*": 403}, body={"name": "adm-{role}", "min_severity": "info",
                                                               "email_recipients": '["ops@example.com"]'}),
                  change_post=_w(OPS, {OPS: 302, "*": 403}, body={"labels": '["changed"]'}),
                  delete_post=_w(OPS, {OPS: 302, "*": 403}),
                  actions={"delete_selected": _w(OPS, {OPS: 302, "*": 403})}),
    **admin_model("events.alertrule", view={OPS: 200, "*": 403}, history={OPS: 200, "*": 302},
                  add={OPS: 200, "*": 403}, delete={OPS: 200, "*": 403},
                  add_post=_w(OPS, {OPS: 302, "*": 403}, body={"name": "adm-{role}", "metric": "gpu.power_w",
                                                               "comparison": ">", "threshold": "500",
                                                               "for_seconds": "60", "window_seconds": "3600",
                                                               "severity": "warning", "scope": "all"}),
                  change_post=_w(OPS, {OPS: 302, "*": 403}, body={"threshold": "610"}),
                  delete_post=_w(OPS, {OPS: 302, "*": 403}),
                  actions={"delete_selected": _w(OPS, {OPS: 302, "*": 403})}),
    **admin_model("nodes.nodeevent", view={OPS: 200, DATA: 403, "engineer,other-project,project-member": 200},
                  change={OPS: 200, DATA: 403, "engineer,other-project,project-member": 302},
                  history={OPS: 200, "*": 302}, **READ_ONLY),
    **admin_model("rbac.project", view=OPEN, change={SEE: 200, "*": 302}, history={SEE: 200, "*": 302},
                  add=ADMIN, delete={"admin": 200, "*": 403},
                  add_post=_w("admin", {"admin": 302, "*": 403}, body={"name": "adm-{role}"}),
                  change_post=_w("admin", {"admin": 302, "*": 403}, body={"description": "changed"}),
                  delete_post=_w("admin", {"admin": 302, "*": 403}),
                  actions={"delete_selected": _w("admin", {"admin": 302, "*": "not offered"})}),
    **admin_model("rbac.membership", view=ADMIN,
                  history={"admin": 200, DEVS: 302, OTHER: 302, "sre,project-member": 403},
                  add={"*": 403},
                  delete=ADMIN, add_post=Case({"*": 403}, writes=NO_ONE),
                  change_post=Case({"*": 403}, writes=NO_ONE), delete_post=_w("admin", {"admin": 302, "*": 403}),
                  actions={"delete_selected": _w("admin", {"admin": 302, "*": 403})}),
}


def _merge(*tables: dict) -> dict:
    merged: dict = {}
    for table in tables:
        for template, methods in table.items():
            clash = set(merged.get(template, {})) & set(methods)
            assert not clash, f"{template} {clash} declared twice"
            merged.setdefault(template, {}).update(methods)
    return merged


TABLE = _merge(PAGES, API, ADMIN_SITE, ADMIN_MODELS)
