"""DRF glue for the permission layer: querysets restricted to what the user may reach."""
from apps.rbac.permissions import restrict

METHOD_ACTIONS = {"GET": "view", "HEAD": "view", "OPTIONS": "view", "PUT": "change", "PATCH": "change",
                  "DELETE": "delete", "POST": "change"}


class RestrictedQuerysetMixin:
    """Lists and details show only reachable objects; writes need the matching action.

    A viewset action may name its own rbac action: `@action(..., rbac_action="manage")`.
    Objects the user may not reach answer 404, so their existence is not revealed.
    """

    queryset = None
    rbac_action = None  # set per action by DRF from @action(rbac_action=...)

    def get_rbac_action(self) -> str:
        return self.rbac_action or METHOD_ACTIONS.get(self.request.method, "view")

    def get_queryset(self):
        return restrict(super().get_queryset(), self.request.user, self.get_rbac_action())
