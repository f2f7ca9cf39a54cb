"""Salt pages: minions (key state, fingerprint, hardware), accept by fingerprint, reject, delete,
ping/version/grains and function runs (portal jobs), Salt run history, node enrollment. Every
change goes through apps.nodes.salt_services / salt_enrollment, as the API's does."""
from __future__ import annotations

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.generic import DetailView

from apps.core.audit import change_log
from apps.core.errors import ServiceError
from apps.core.filtering import FilterSet
from apps.core.list_views import KitListView
from apps.core.tables import KitTable, TimeColumn
from apps.rbac.page_views import KitConfirmView, KitDeleteView, KitFormView, ObjectMixin, add_service_errors
from apps.rbac.permissions import can, restrict

from . import salt_enrollment, salt_install_job, salt_services
from .models import Node
from .salt_models import SaltKeyState, SaltMaster, SaltMinion, SaltRun

KEY_BADGES = {"accepted": "text-bg-success", "pending": "text-bg-warning", "rejected": "text-bg-danger",
              "denied": "text-bg-danger", "absent": "text-bg-secondary"}


# --- minion list --------------------------------------------------------------------------
class MinionFilter(FilterSet):
    key_state = django_filters.MultipleChoiceFilter(choices=SaltKeyState.choices, label="Key state")
    q = django_filters.CharFilter(method="filter_q", label="Search")

    class Meta:
        model = SaltMinion
        fields = ["key_state", "q"]

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(minion_id__icontains=value) | Q(node__name__icontains=value))


class MinionTable(KitTable):
    locked_columns = ("minion_id",)
    minion_id = tables.Column(verbose_name="Minion", linkify=lambda record: record.get_absolute_url())
    node = tables.Column(accessor="node__name", verbose_name="Node", default="—")
    key_state = tables.Column(verbose_name="Key")
    key_fingerprint = tables.Column(verbose_name="Key fingerprint (salt-key -f)", orderable=False)
    salt_version = tables.Column(verbose_name="Salt")
    last_ping_at = TimeColumn(verbose_name="Last ping", never="never")
    master = tables.Column(accessor="master__name", verbose_name="Master")

    class Meta(KitTable.Meta):
        model = SaltMinion
        fields = ()
        sequence = ("minion_id", "node", "key_state", "key_fingerprint", "salt_version", "last_ping_at", "master")

    def render_key_state(self, record, value):
        from django.utils.html import format_html
        return format_html('<span class="badge {}">{}</span>', KEY_BADGES.get(record.key_state, "text-bg-light"), value)

    def render_key_fingerprint(self, value):
        from django.utils.html import format_html
        return format_html('<code class="small text-break">{}</code>', value)


class MinionListView(KitListView):
    template_name = "nodes/salt/minion_list.html"
    filterset_class = MinionFilter
    table_class = MinionTable
    page_title = "Salt minions"
    page_intro = ("Minions as the Salt master knows them. A pending key is accepted only with its fingerprint: "
                  "the one the enrolling minion reported, or one you read on the node.")
    empty = {"title": "No Salt minions yet", "lab_hint": True,
             "text": "Minions appear when a Salt master's keys are refreshed, or when a node is enrolled.",
             "how": "Open a node and choose “Enroll in Salt”."}

    def base_queryset(self):
        return salt_services.visible_minions(self.request.user)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["may_install"] = salt_install_job.may_install(self.request.user)
        return ctx


class MinionDetailView(LoginRequiredMixin, DetailView):
    template_name = "nodes/salt/minion_detail.html"
    context_object_name = "minion"

    def get_queryset(self):
        return salt_services.visible_minions(self.request.user)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        minion, user = self.object, self.request.user
        ctx.update(
            may_change=can(user, minion, "change"), may_delete=can(user, minion, "delete"),
            may_run=can(user, minion, "run"), key_badge=KEY_BADGES.get(minion.key_state, "text-bg-light"),
            runs=list(salt_services.visible_runs(user).filter(master=minion.master, target__contains=[minion.minion_id])
                      .order_by("-started_at")[:10]),
            changes=change_log(user, minion), quick=list(salt_services.QUICK_FUNCTIONS),
        )
        return ctx


class MinionObject(ObjectMixin):
    def visible_queryset(self):
        return salt_services.visible_minions(self.request.user)


# --- key operations ------------------------------------------------------------------------
class AcceptForm(forms.Form):
    fingerprint = forms.CharField(max_length=100, help_text="As `salt-key -f <id>` shows it on the master, or as "
                                                            "the minion reported it at enrollment.")


class MinionAcceptView(MinionObject, KitFormView):
    form_class = AcceptForm
    page_title = "Accept the key of {obj}"
    page_intro = ("The key is accepted only if the pending key on the master has exactly this fingerprint; "
                  "otherwise it stays pending.")
    submit_label = "Accept"
    success_message = "Accepted the key of {obj}."

    def save(self, form):
        return salt_services.accept_key(self.request.user, self.object, form.cleaned_data["fingerprint"], path="page")


class MinionRejectView(MinionObject, KitConfirmView):
    def confirmation(self, minion) -> dict:
        return {"page_title": f"Reject the key of {minion}?", "confirm_label": "Reject",
                "consequence": f"{minion} will no longer be able to talk to the master until its key is deleted "
                               "and accepted again.", "cancel_url": minion.get_absolute_url()}

    def act(self, minion) -> str:
        salt_services.reject_key(self.request.user, minion, path="page")
        return f"Rejected the key of {minion}."


class MinionDeleteView(MinionObject, KitDeleteView):
    def consequence(self, minion) -> str:
        return f"The key of {minion} is deleted on the master and the minion forgotten here."

    def delete(self, minion) -> None:
        salt_services.delete_key(self.request.user, minion, path="page")

    def done_url(self, minion) -> str:
        return reverse("nodes:salt-minions")


# --- runs ----------------------------------------------------------------------------------
class RunForm(forms.Form):
    fun = forms.CharField(max_length=100, label="Function", help_text="module.function, e.g. test.ping or "
                                                                      "state.apply (allowed states only)")
    args = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Arguments",
                           help_text="One positional argument per line.")


class MinionRunView(MinionObject, KitFormView):
    """Run a Salt function on this minion (a portal job). The function policy decides; a refused
    function answers 403 naming it, and the refusal is audited."""

    form_class = RunForm
    required_action = "run"
    page_title = "Run a Salt function on {obj}"
    page_intro = "Runs through salt-api as a portal job; the function policy of your role decides what is allowed."
    submit_label = "Run"

    def get_initial(self):
        name = self.request.GET.get("quick", "")
        return {"fun": salt_services.QUICK_FUNCTIONS.get(name, "")}

    def form_valid(self, form):
        args = [a for a in form.cleaned_data["args"].splitlines() if a.strip()]
        try:
            job = salt_services.start_run(self.request.user, [self.object], form.cleaned_data["fun"], args,
                                          path="page")
        except salt_services.SaltCallRefused as exc:
            form.add_error("fun", exc.message)
            return self.render_to_response(self.get_context_data(form=form), status=403)
        except ServiceError as exc:
            if exc.status == 403:
                raise PermissionDenied(exc.message)
            add_service_errors(form, exc)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status)
        messages.success(self.request, f"Started {form.cleaned_data['fun']} on {self.object}.")
        return redirect("jobs:detail", job.pk)


class RunFilter(FilterSet):
    fun = django_filters.CharFilter(lookup_expr="icontains", label="Function")

    class Meta:
        model = SaltRun
        fields = ["fun"]


class RunTable(KitTable):
    started_at = TimeColumn(verbose_name="Started")
    fun = tables.Column(verbose_name="Function")
    jid = tables.Column(verbose_name="Salt jid")
    target = tables.Column(verbose_name="Minions", orderable=False)
    ok = tables.BooleanColumn(verbose_name="All OK")
    requested_by = tables.Column(accessor="requested_by__username", verbose_name="By", default="system")
    job = tables.Column(verbose_name="Job", linkify=lambda record: reverse("jobs:detail", args=[record.job_id])
                        if record.job_id else None, default="—")

    class Meta(KitTable.Meta):
        model = SaltRun
        fields = ()
        sequence = ("started_at", "fun", "jid", "target", "ok", "requested_by", "job")

    def render_target(self, value):
        return ", ".join(value[:5]) + (f" (+{len(value) - 5})" if len(value) > 5 else "")

    def render_job(self, record):
        return f"#{record.job_id}"


class RunListView(KitListView):
    filterset_class = RunFilter
    table_class = RunTable
    page_title = "Salt runs"
    page_intro = "Salt functions run from the portal, with their Salt job id; each run's job shows the per-minion returns."
    empty = {"title": "No Salt runs yet", "text": "Runs appear when a minion is pinged or a function is run.",
             "how": "Open a minion and choose Ping."}

    def base_queryset(self):
        return salt_services.visible_runs(self.request.user)


# --- enrollment -----------------------------------------------------------------------------
class EnrollForm(forms.Form):
    master = forms.ModelChoiceField(queryset=SaltMaster.objects.none(), required=False,
                                    help_text="The Salt master the minion will use (the only one when empty).")
    minion_id = forms.CharField(max_length=253, required=False, label="Minion id",
                                help_text="Default: the node's name.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["master"].queryset = SaltMaster.objects.all()


class NodeEnrollView(ObjectMixin, KitFormView):
    """/nodes/<pk>/salt-enroll/: issues a one-time token and shows it, once, with the bootstrap command."""

    form_class = EnrollForm
    page_title = "Enroll {obj} in Salt"
    page_intro = ("Issues a one-time token (valid 15 minutes, usable once) and the command to run on the node as "
                  "root. The node's minion gets the master's key pinned, and its own key is accepted only if it "
                  "is the one the minion reports.")
    submit_label = "Issue the token"

    def visible_queryset(self):
        return restrict(Node.objects.all(), self.request.user, "view")

    def save(self, form):
        return salt_enrollment.issue(self.request.user, self.object, master=form.cleaned_data["master"],
                                     minion_id=form.cleaned_data["minion_id"],
                                     portal_url=self.request.build_absolute_uri("/"))

    def form_valid(self, form):
        try:
            out = self.save(form)
        except ServiceError as exc:
            if exc.status == 403 and not hasattr(exc, "errors"):
                raise PermissionDenied(exc.message)
            add_service_errors(form, exc)
            return self.render_to_response(self.get_context_data(form=form), status=exc.status)
        response = render(self.request, "nodes/salt/enroll_token.html",
                          {"node": self.object, "token": out["token"], "command": out["command"],
                           "expires_at": out["expires_at"], "minion_id": out["enrollment"].minion_id})
        response["Cache-Control"] = "no-store"
        return response
