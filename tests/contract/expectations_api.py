"""The contract for the API: who gets what on every API route."""
from .expectations_roles import DATA, DEVS, ENG, EVERYONE, FINGER, MEMBER, NODE, NO_ONE, OPEN, OPS, OTHER, SEE
from .spec import Case

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
    # The batch minion install: nodes.add_saltminion decided before the body is read, then change on
    # every node named (the job engine's check); 202 with the job.
    "/api/v1/salt/batch-install/": {"POST": Case({OPS: 202, "*": 403},
                                                 body={"nodes": ["{node}"], "portal_url": "http://portal.example"})},
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
