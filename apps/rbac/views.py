"""Project pages on the page kit: the list; create, edit and delete (with what blocks it); members
(add, change role, remove after a confirmation); object grants (add; revoke after a confirmation).
Every change goes through apps.rbac.services, which checks permission, validates and audits; its
refusals come back next to the field they concern."""
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Count, Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse, reverse_lazy
from django.views.generic import DetailView

from apps.core.audit import change_log
from apps.core.errors import Conflict, ServiceError
from apps.core.list_views import KitListView, detail_tab

from . import services
from .filters import ProjectFilter
from .forms import GrantForm, MemberAddForm, MemberRoleForm, ProjectForm
from .models import Membership, ProjectRole
from .page_views import KitConfirmView, KitDeleteView, KitFormView, ObjectMixin
from .permissions import can
from .tables import ProjectTable



def _literal(text: str) -> str:
    """`text` inside a KitFormView success message (a str.format template)."""
    return str(text).replace("{", "{{").replace("}", "}}")


class VisibleProjectsMixin(ObjectMixin):
    # Pages answer GET and POST only: FormView would take PUT as POST, and an HTTP DELETE would
    # reach KitDeleteView's delete(obj) hook.
    http_method_names = ["get", "post", "head"]

    def visible_queryset(self):
        return services.visible_projects(self.request.user)


# --- list, detail -----------------------------------------------------------------------------

class ProjectListView(KitListView):
    template_name = "rbac/project_list.html"
    filterset_class = ProjectFilter
    table_class = ProjectTable
    page_title = "Projects"
    page_intro = "Teams: their members, GPU quotas, and access to objects outside the project."
    export_name = "projects.csv"
    empty = {"title": "No projects yet",
             "text": "A project is a team: its members share its nodes, secrets and allocations, "
                     "and it can be granted access to objects of other projects.",
             "how": "An administrator creates projects; you see the ones you are a member of."}

    def base_queryset(self):
        owners = Prefetch("memberships", to_attr="owner_memberships",
                          queryset=Membership.objects.filter(role=ProjectRole.OWNER).select_related("user")
                          .order_by("user__username"))
        return services.visible_projects(self.request.user).annotate(
            member_count=Count("memberships", distinct=True)).prefetch_related(owners)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["may_add"] = self.request.user.has_perm("rbac.add_project")
        if ctx["may_add"]:
            ctx["empty_action_url"], ctx["empty_action_label"] = reverse("rbac:project_add"), "New project"
        return ctx


class ProjectDetailView(LoginRequiredMixin, DetailView):
    template_name = "rbac/project_detail.html"
    context_object_name = "project"

    def get_queryset(self):
        return services.visible_projects(self.request.user).prefetch_related(
            Prefetch("memberships", queryset=Membership.objects.select_related("user").order_by("user__username")))

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        project, user = self.object, self.request.user
        ctx["may_manage"] = can(user, project, "manage")
        ctx["may_change"] = can(user, project, "change")
        ctx["may_delete"] = can(user, project, "delete")
        ctx["grants"] = services.list_grants(user, project)
        if ctx["may_manage"]:
            ctx["grant_form"] = GrantForm(auto_id="grant_%s")
            ctx["member_form"] = MemberAddForm(auto_id="member_%s")
        ctx["changes"] = change_log(user, project)
        ctx["active_tab"] = detail_tab(self.request)
        return ctx


# --- create, edit, delete ---------------------------------------------------------------------

class ProjectCreateView(KitFormView):
    http_method_names = VisibleProjectsMixin.http_method_names
    form_class = ProjectForm
    page_title = "New project"
    page_intro = "You become its first owner; add members on the project's page."
    submit_label = "Create project"
    success_message = "Created project {obj}."
    cancel_url = reverse_lazy("rbac:projects")

    def may_create(self) -> bool:
        return self.request.user.has_perm("rbac.add_project")

    def save(self, form):
        data = form.cleaned_data
        return services.create_project(self.request.user, data["name"], data["description"],
                                       gpu_quota=data["gpu_quota"], gpu_hours_quota=data["gpu_hours_quota"],
                                       owner=self.request.user)


class ProjectEditView(VisibleProjectsMixin, KitFormView):
    form_class = ProjectForm
    required_action = "change"
    page_title = "Edit project {obj}"
    success_message = "Saved project {obj}."

    def form_kwargs(self) -> dict:
        return {"editing": True, "may_set_quotas": self.request.user.has_perm("rbac.change_project")}

    def get_initial(self):
        p = self.object
        return {"description": p.description, "gpu_quota": p.gpu_quota, "gpu_hours_quota": p.gpu_hours_quota}

    def save(self, form):
        return services.update_project(self.request.user, self.object, **form.cleaned_data)


class ProjectDeleteView(VisibleProjectsMixin, KitDeleteView):
    success_url = "rbac:projects"

    def consequence(self, obj, blockers=None) -> str:
        blockers = services.delete_blockers(obj) if blockers is None else blockers
        if blockers:
            owned = ", ".join(f"{count} {what}" for what, count in blockers)
            return (f"Project {obj} still owns {owned}: move them to another project or delete them first. "
                    "Until then the project cannot be deleted.")
        members = obj.memberships.count()
        grants = len(services.list_grants(self.request.user, obj))
        return (f"Project {obj}, its {members} membership{'s' if members != 1 else ''} and its {grants} object "
                f"grant{'s' if grants != 1 else ''} will be deleted; its members lose what it gave them. "
                "This cannot be undone.")

    def get(self, request, pk):
        obj = self.get_object()
        blockers = services.delete_blockers(obj)
        return render(request, self.template_name, {
            "page_title": f"Delete project {obj}?", "consequence": self.consequence(obj, blockers),
            "objects": [obj], "confirm_label": "Delete project", "danger": True,
            "cancel_url": obj.get_absolute_url(), "refused": bool(blockers)})

    def delete(self, obj) -> None:
        services.delete_project(self.request.user, obj)


# --- members ----------------------------------------------------------------------------------

class ManagedProjectMixin(VisibleProjectsMixin):
    """The project of the URL, which the user must be allowed to manage (members, grants): 404
    when they cannot see it, 403 when they see it but may not manage it."""

    required_action = "manage"


class MembershipMixin(ManagedProjectMixin):
    """…and one of its memberships, by user name (404 when that user is no member)."""

    def get_object(self):
        project = super().get_object()
        self.membership = get_object_or_404(project.memberships.select_related("user"),
                                            user__username=self.kwargs["username"])
        return project


def _on_role_field(exc: ServiceError) -> ServiceError:
    # "The last owner": a refusal about the role the form asks for, so shown under that field.
    return Conflict(exc.message, field="role") if isinstance(exc, Conflict) and not exc.field else exc


class MemberAddView(ManagedProjectMixin, KitFormView):
    form_class = MemberAddForm
    page_title = "Add a member to {obj}"
    submit_label = "Add member"

    def save(self, form):
        data = form.cleaned_data
        try:
            membership = services.add_member(self.request.user, self.object, data["username"], data["role"])
        except ServiceError as exc:
            raise _on_role_field(exc) from None
        self.success_message = f"{_literal(membership.user.username)} is now {membership.role} of {{obj}}."
        return self.object


class MemberRoleView(MembershipMixin, KitFormView):
    form_class = MemberRoleForm
    submit_label = "Change role"

    def get_initial(self):
        return {"role": self.membership.role}

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["page_title"] = f"Role of {self.membership.user.username} in {self.object}"
        ctx["page_intro"] = "viewer: sees the project's objects; member: also works with them; owner: everything, " \
                            "members and grants included."
        return ctx

    def save(self, form):
        role = form.cleaned_data["role"]
        try:
            services.set_member(self.request.user, self.object, self.membership.user, role)
        except ServiceError as exc:
            raise _on_role_field(exc) from None
        self.success_message = f"{_literal(self.membership.user.username)} is now {role} of {{obj}}."
        return self.object


class MemberRemoveView(MembershipMixin, KitConfirmView):
    """GET: the confirmation page; POST with confirm=yes: remove the member."""

    def confirmation(self, project) -> dict:
        membership = self.membership
        consequence = (f"{membership.user.username} ({membership.get_role_display().lower()}) will no longer be a "
                       f"member of {project}: they lose access to its objects and to what it was granted.")
        if membership.from_ldap:
            consequence += " The membership came from an LDAP group: their next login may add it again."
        return {"page_title": f"Remove {membership.user.username} from {project}?", "consequence": consequence,
                "objects": [membership], "confirm_label": "Remove member", "cancel_url": project.get_absolute_url()}

    def act(self, project) -> str:
        services.remove_member(self.request.user, project, self.membership.user.username)
        return f"Removed {self.membership.user.username} from {project}."


# --- object grants ----------------------------------------------------------------------------

class GrantAddView(ManagedProjectMixin, KitFormView):
    form_class = GrantForm
    page_title = "Grant {obj} access to an object"
    page_intro = "Members of the project get this permission on one object outside the project."
    submit_label = "Grant"

    def save(self, form):
        data = form.cleaned_data
        grant = services.grant_by_reference(self.request.user, self.object, data["object_type"],
                                            data["object_id"], data["permission"])
        self.success_message = f"Granted {grant.permission} on {_literal(grant.object_repr)} to {{obj}}."
        return self.object


class GrantRevokeView(VisibleProjectsMixin, KitConfirmView):
    """GET: the confirmation page; POST with confirm=yes: revoke. The service decides who may (a
    steward of the object, or a manager of the project)."""

    required_action = "view"

    def target(self):
        project = self.get_object()
        grant_id = self.kwargs["grant_id"]
        self.grant = next((g for g in services.list_grants(self.request.user, project) if g.id == grant_id), None)
        if self.grant is None:
            raise Http404(f"No grant {grant_id} held by {project}.")
        return project

    def confirmation(self, project) -> dict:
        grant = self.grant
        return {"page_title": f"Revoke {grant.permission} on {grant.object_repr} from {project}?",
                "consequence": f"Members of {project} will no longer have {grant.permission} on "
                               f"{grant.object_repr} ({grant.object_type} {grant.object_id}) through this project.",
                "objects": [], "confirm_label": "Revoke", "cancel_url": project.get_absolute_url()}

    def act(self, project) -> str:
        services.revoke_grant(self.request.user, project, self.grant.id)
        return f"Revoked {self.grant.permission} on {self.grant.object_repr} from {project}."
