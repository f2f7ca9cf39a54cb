"""Role groups and shared cases of the contract table (see tests/contract/expectations.py)."""

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
NODE = '{{"name": "api-{role}", "address": "10.0.0.9"}}'  # a node body for create routes
