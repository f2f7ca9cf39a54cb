"""Pages: my allocations, the approval queue, the request form with an availability preview,
an allocation's page (state, GPUs, transitions, flags) and its actions. Every change goes
through apps.allocations.services (permission, validation, audit), as the API's does."""
import datetime as dt

from django.contrib.auth.mixins import LoginRequiredMixin
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.views.generic import DetailView

from apps.core.audit import change_log
from apps.core.contenttypes import content_type_for
from apps.core.errors import ServiceError
from apps.core.list_views import KitListView, detail_tab
from apps.events.models import Event
from apps.rbac.page_views import KitConfirmView, KitFormView, ObjectMixin, add_service_errors
from apps.rbac.permissions import can, projects_to_act_in

from . import availability, services
from .filters import AllocationFilter
from .fleet_views import fleet_context
from .forms import DecisionForm, ExtendForm, RequestForm
from .models import Allocation, AllocationGpu
from .states import AllocationState as S
from .tables import AllocationTable, ApprovalTable, state_badge

TRANSITIONS_SHOWN = 50


class AllocationListView(KitListView):
    template_name = "allocations/allocation_list.html"
    filterset_class = AllocationFilter
    table_class = AllocationTable
    page_title = "GPU allocations"
    page_intro = "GPU allocations of your projects: what is booked, when, and in which state."
    export_name = "allocations.csv"
    empty = {"title": "No allocations yet",
             "text": "An allocation books concrete GPUs for a project over a time window.",
             "how": "Request GPUs with the form; within the project's quota they are approved at once."}

    def base_queryset(self):
        return services.visible_allocations(self.request.user)

    def may_request(self) -> bool:
        if not hasattr(self, "_may_request"):
            self._may_request = projects_to_act_in(self.request.user, Allocation, "add").exists()
        return self._may_request

    def get_empty_context(self) -> dict:
        if self.may_request():
            return {**self.empty, "action_url": reverse("allocations:new"), "action_label": "Request GPUs"}
        return dict(self.empty)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["may_request"] = self.may_request()
        return ctx


class ApprovalQueueView(KitListView):
    filterset_class = AllocationFilter
    table_class = ApprovalTable
    page_title = "Approval queue"
    page_intro = "Requests over their project's quota, waiting for a project owner, SRE or admin."
    export_name = None
    empty = {"title": "Nothing to approve", "text": "Requests over their project's quota wait here."}

    def base_queryset(self):
        return services.visible_allocations(self.request.user, "approve").filter(state=S.PENDING)


class AllocationDetailView(LoginRequiredMixin, DetailView):
    template_name = "allocations/allocation_detail.html"
    context_object_name = "allocation"

    def get_queryset(self):
        return services.visible_allocations(self.request.user).select_related("decided_by", "cluster", "partition")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        allocation, user = self.object, self.request.user
        state = allocation.state
        actions = []
        if state == S.PENDING and can(user, allocation, "approve"):
            actions += [("approve", "Approve"), ("reject", "Reject")]
        if state in (S.PENDING, S.APPROVED, S.ACTIVE) and can(user, allocation, "change"):
            actions.append(("extend", "Extend"))
        if state in (S.APPROVED, S.ACTIVE) and can(user, allocation, "cancel"):
            actions.append(("release", "Release"))
        if state in (S.PENDING, S.APPROVED) and can(user, allocation, "cancel"):
            actions.append(("cancel", "Cancel"))
        ctx.update(
            state=state_badge(allocation), actions=actions,
            gpus=list(AllocationGpu.objects.filter(allocation=allocation).select_related("gpu__node")
                      .order_by("gpu__node__name", "gpu__index")),
            nodes=list(allocation.nodes.all()),
            transitions=list(Event.objects.filter(object_type=content_type_for(allocation),
                                                  object_id=str(allocation.pk)).order_by("-timestamp", "-id")
                             [:TRANSITIONS_SHOWN]),
            changes=change_log(user, allocation), active_tab=detail_tab(self.request))
        ctx.update(fleet_context(allocation))  # fleet bindings and usage
        return ctx


class RequestView(KitFormView):
    """/allocations/new/: the request form; "Check availability" previews the free GPUs over the
    window (and what placement would answer) without booking anything."""

    form_class = RequestForm
    template_name = "allocations/request.html"
    page_title = "Request GPUs"
    page_intro = ("Placement picks healthy GPUs free for the whole window, packing them so whole nodes stay "
                  "free. Within the project's quota the request is approved at once.")
    submit_label = "Request"
    success_message = "Requested: {obj}."
    cancel_url = reverse_lazy("allocations:list")

    def may_create(self) -> bool:
        return projects_to_act_in(self.request.user, Allocation, "add").exists()

    def form_kwargs(self) -> dict:
        return {"user": self.request.user}

    def form_valid(self, form):
        if "check" in self.request.POST:
            return self.render_to_response(self.get_context_data(form=form, preview=self.preview(form)))
        return super().form_valid(form)

    def form_invalid(self, form):
        # The live preview (htmx, on every change) asks before the form is complete: it needs only
        # the window and the model, so it answers from the fields that are valid so far.
        if "check" in self.request.POST and not {"start", "end", "duration_hours", "gpu_model"} & set(form.errors):
            return self.render_to_response(self.get_context_data(form=form, preview=self.preview(form)))
        return super().form_invalid(form)

    def preview(self, form) -> dict:
        data = form.cleaned_data
        start = data.get("start") or timezone.now()
        end = data.get("end") or start + dt.timedelta(hours=data.get("duration_hours") or 1)
        try:
            return availability.summary(self.request.user, start, end, data.get("gpu_model") or "")
        except ServiceError as exc:
            add_service_errors(form, exc)
            return {}

    def save(self, form):
        data = dict(form.cleaned_data)
        return services.request_allocation(self.request.user, **data)


class _ActionMixin(ObjectMixin):
    def visible_queryset(self):
        return services.visible_allocations(self.request.user)


class DecisionView(_ActionMixin, KitFormView):
    """/allocations/<pk>/approve/ and /reject/ (a comment; required to reject)."""

    form_class = DecisionForm
    required_action = "approve"
    verb = "approve"

    def get_context_data(self, **kwargs):
        self.page_title = f"{self.verb.capitalize()} {self.object}?"
        self.submit_label = self.verb.capitalize()
        return super().get_context_data(**kwargs)

    def save(self, form):
        run = services.approve if self.verb == "approve" else services.reject
        self.success_message = f"{self.verb.capitalize()}d {{obj}}." if self.verb == "approve" else "Rejected {obj}."
        return run(self.request.user, self.object, form.cleaned_data["comment"])


class ExtendView(_ActionMixin, KitFormView):
    form_class = ExtendForm
    page_title = "Extend {obj}"
    page_intro = "The same GPUs must stay free for the added time, and the project's quota must allow it."
    submit_label = "Extend"
    success_message = "Extended {obj}."

    def save(self, form):
        return services.extend(self.request.user, self.object, hours=form.cleaned_data["hours"])


class EndView(_ActionMixin, KitConfirmView):
    """/allocations/<pk>/release/ and /cancel/: confirmed first."""

    required_action = "cancel"
    verb = "release"

    def confirmation(self, allocation) -> dict:
        what = ("Its GPUs are freed now for others." if self.verb == "release"
                else "The request is withdrawn and its GPUs freed.")
        return {"page_title": f"{self.verb.capitalize()} {allocation}?", "consequence": what,
                "confirm_label": self.verb.capitalize(), "cancel_url": allocation.get_absolute_url()}

    def act(self, allocation) -> str:
        if self.verb == "release":
            services.release(self.request.user, allocation)
            return f"Released {allocation}."
        services.cancel(self.request.user, allocation)
        return f"Cancelled {allocation}."
