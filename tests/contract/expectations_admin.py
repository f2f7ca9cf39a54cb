"""The contract for the admin site and every model admin."""
from .expectations_roles import DATA, DEVS, ENG, NODE, NO_ONE, OPEN, OPS, OTHER, SEE
from .spec import Case, admin_model

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
                           # the batch install job (job.start audited); the others may not install minions
                           "install_salt_minions": _w(OPS, {OPS: 302, DATA: 403, "*": 302}),
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
