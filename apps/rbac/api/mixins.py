"""DRF glue for the permission layer: querysets restricted to what the user may reach."""
from django.http import Http404
from rest_framework.exceptions import PermissionDenied

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
    lookup_value_regex = r"\d+"  # integer keys: /nodes/abc/power/ is no route (404), not a query

    def get_rbac_action(self) -> str:
        return self.rbac_action or METHOD_ACTIONS.get(self.request.method, "view")

    def get_queryset(self):
        return restrict(super().get_queryset(), self.request.user, self.get_rbac_action())

    def get_object(self):
        """404 for objects the user cannot see; 403 for visible ones the action is not allowed on."""
        try:
            return super().get_object()
        except Http404:
            action = self.get_rbac_action()
            if action == "view":
                raise
            lookup = {self.lookup_field: self.kwargs[self.lookup_url_kwarg or self.lookup_field]}
            visible = restrict(self.queryset.all(), self.request.user, "view").filter(**lookup).exists()
            if visible:
                raise PermissionDenied(f"You may see this {self.queryset.model._meta.verbose_name} "
                                       f"but not {action} it.") from None
            raise
