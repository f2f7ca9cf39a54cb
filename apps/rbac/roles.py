"""The five role templates, as code. Each is a Django group with these model permissions.

Entries are `app_label.codename`, or `app_label.*` for every permission of an app, or
`app_label.view_*` for every view permission of an app. Patterns for apps that do not exist yet
match nothing, so the table already states the intended access of later apps.

`rbac.unrestricted` means "acts on every object of the models it has permissions for"; roles
without it see only their own objects, their projects' objects and objects granted to them.
"""

ROLE_TEMPLATES: dict[str, dict] = {
    "admin": {
        "description": "Everything.",
        "permissions": ["*"],
    },
    "sre": {
        "description": "Nodes, BMC power, Salt, clusters, GPUs, allocations, jobs and alerts: full. Audit: read. "
                       "Key vault: register, update and use secrets (bind them to nodes and BMCs; no reveal).",
        "permissions": [
            "rbac.unrestricted", "rbac.view_project",
            "nodes.*", "clusters.*", "gpus.*", "jobs.*", "events.*", "allocations.*",
            "core.view_auditevent",
            "keyvault.view_secret", "keyvault.add_secret", "keyvault.change_secret", "keyvault.use_secret",
            "keyvault.view_secretaccess",
            "django_celery_beat.view_*",
        ],
    },
    "data-developer": {
        "description": "GPUs and clusters: read. Allocations and Slurm jobs of their projects: "
                       "create/read/update/cancel. Key vault: none.",
        "permissions": [
            "rbac.view_project",
            "gpus.view_*", "clusters.view_*", "events.view_event", "events.view_alert",
            "allocations.add_allocation", "allocations.view_allocation",
            "allocations.change_allocation", "allocations.cancel_allocation",
            "clusters.add_slurmjob", "clusters.change_slurmjob", "clusters.cancel_slurmjob",
        ],
    },
    "model-developer": {
        "description": "Same as data-developer.",
        "permissions": "data-developer",
    },
    "engineer": {
        "description": "Clusters, nodes and GPUs: read. Allocations of their projects: create/read.",
        "permissions": [
            "rbac.view_project",
            "clusters.view_*", "nodes.view_*", "gpus.view_*", "events.view_event", "events.view_alert",
            "allocations.add_allocation", "allocations.view_allocation",
        ],
    },
}


def role_patterns(name: str) -> list[str]:
    perms = ROLE_TEMPLATES[name]["permissions"]
    return role_patterns(perms) if isinstance(perms, str) else list(perms)
