"""Clusters API: node states, node health, and accounting (project accounts, sacctmgr dry run,
apply, drift check, associations and QOS as Slurm shows them).

    POST /api/v1/clusters/<id>/nodes/manage/      {nodes, action, reason}   202 + job
    POST /api/v1/clusters/<id>/health/            {nodes?}                  202 + job
    GET  /api/v1/clusters/<id>/accounts/          project accounts with limits (POST: add one)
    GET|PATCH|DELETE /api/v1/clusters/accounts/<pk>/
    GET  /api/v1/clusters/<id>/accounts/diff/     the sacctmgr commands apply would run (nothing runs)
    POST /api/v1/clusters/<id>/accounts/apply/    202 + job     POST .../accounts/check/  202 + job
    GET  /api/v1/clusters/<id>/associations/      GET /api/v1/clusters/<id>/qos/   (live, read-only)

Every change goes through the services (permission, validation, one audit entry); 404 for a
cluster the user may not see, 403 for one they see but may not manage.
"""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.jobs.api.responses import accepted
from apps.jobs.api.serializers import JobSerializer
from apps.rbac.models import Project
from apps.rbac.permissions import restrict

from .. import accounting_sync, node_health, node_states, services
from ..models import ProjectAccount
from ..node_states import NodeStateAction
from ..validators import SLURM_NAME



def slurm_name_field():
    return serializers.RegexField(SLURM_NAME.pattern, max_length=63)


class NodeManageSerializer(serializers.Serializer):
    nodes = serializers.ListField(child=serializers.CharField(max_length=200), min_length=1,
                                  max_length=node_states.MAX_NODES, help_text="Exact Slurm node names of this cluster.")
    action = serializers.ChoiceField(choices=[a.value for a in NodeStateAction])
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="", trim_whitespace=False,
                                   help_text="Required for drain and down: one line, no '=' or '|', 200 characters.")


class HealthSerializer(serializers.Serializer):
    nodes = serializers.ListField(child=serializers.CharField(max_length=63), required=False,
                                  max_length=node_states.MAX_NODES, help_text="Only these nodes (default: all).")


class ProjectAccountSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="name", queryset=Project.objects.all())
    cluster = serializers.PrimaryKeyRelatedField(read_only=True)
    allowed_partitions = serializers.ListField(child=slurm_name_field(), max_length=100, required=False)
    allowed_qos = serializers.ListField(child=slurm_name_field(), max_length=100, required=False)

    class Meta:
        model = ProjectAccount
        fields = ["id", "cluster", "project", "account", "gpus_per_job", "gpu_minutes", "max_running_jobs_per_user",
                  "max_wall_min", "allowed_partitions", "allowed_qos", "drift", "checked_at", "applied_at"]
        read_only_fields = ["id", "cluster", "drift", "checked_at", "applied_at"]
        validators = []  # uniqueness per cluster: the service's full_clean names the field
        extra_kwargs = {"gpus_per_job": {"max_value": 100_000}, "gpu_minutes": {"max_value": 10**12},
                        "max_running_jobs_per_user": {"max_value": 1_000_000}, "max_wall_min": {"max_value": 10**8}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["project"].queryset = restrict(Project.objects.all(), request.user, "view")
        if self.instance is not None and not isinstance(self.instance, (list, tuple)) and \
                hasattr(self.instance, "pk"):
            self.fields["project"].read_only = True  # an account belongs to its project for good


class ClusterScoped(APIView):
    permission_classes = [IsAuthenticated]

    def cluster(self, pk):
        return get_object_or_404(services.visible_clusters(self.request.user), pk=pk)


class NodeManageView(ClusterScoped):
    @extend_schema(request=NodeManageSerializer, responses={202: JobSerializer})
    def post(self, request, pk):
        """Drain, resume, down, power down or power up nodes of the cluster (a job runs
        `scontrol update`; its host results say each node's state afterwards)."""
        cluster = self.cluster(pk)
        node_states.check_may_manage(request.user, cluster)
        data = NodeManageSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return accepted(node_states.manage_nodes(request.user, cluster, **data.validated_data))


class HealthView(ClusterScoped):
    @extend_schema(request=HealthSerializer, responses={202: JobSerializer})
    def post(self, request, pk):
        """Repair nodes Slurm took out of service (restart slurmd, resume; a job)."""
        cluster = self.cluster(pk)
        data = HealthSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return accepted(node_health.start_repair(request.user, cluster, data.validated_data.get("nodes")))


class AccountListView(ClusterScoped):
    @extend_schema(responses={200: ProjectAccountSerializer(many=True)})
    def get(self, request, pk):
        cluster = self.cluster(pk)
        rows = cluster.accounts.select_related("project").order_by("account")
        return Response(ProjectAccountSerializer(rows, many=True, context={"request": request}).data)

    @extend_schema(request=ProjectAccountSerializer, responses={201: ProjectAccountSerializer})
    def post(self, request, pk):
        """Map a project to a Slurm account on this cluster, with its limits (nothing reaches Slurm
        until apply)."""
        cluster = self.cluster(pk)
        node_states.check_may_manage(request.user, cluster)
        data = ProjectAccountSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        pa = accounting_sync.create_account(request.user, cluster, **data.validated_data)
        return Response(ProjectAccountSerializer(pa, context={"request": request}).data, status=201)


class AccountDetailView(APIView):
    permission_classes = [IsAuthenticated]

    def account(self, pk):
        visible = services.visible_clusters(self.request.user)
        return get_object_or_404(ProjectAccount.objects.select_related("cluster", "project")
                                 .filter(cluster__in=visible), pk=pk)

    @extend_schema(responses={200: ProjectAccountSerializer})
    def get(self, request, pk):
        return Response(ProjectAccountSerializer(self.account(pk), context={"request": request}).data)

    @extend_schema(request=ProjectAccountSerializer, responses={200: ProjectAccountSerializer})
    def patch(self, request, pk):
        pa = self.account(pk)
        node_states.check_may_manage(request.user, pa.cluster)
        data = ProjectAccountSerializer(pa, data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        changes = {k: v for k, v in data.validated_data.items() if k != "project"}
        pa = accounting_sync.update_account(request.user, pa, **changes)
        return Response(ProjectAccountSerializer(pa, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk):
        """Forget the mapping in the portal; the Slurm account itself stays."""
        accounting_sync.delete_account(request.user, self.account(pk))
        return Response(status=204)


class AccountDiffView(ClusterScoped):
    @extend_schema(responses={200: dict})
    def get(self, request, pk):
        """The dry run: the sacctmgr commands apply would run, in order, without running them
        (`in_sync`: none needed; `ok: false` with the reason when Slurm cannot be read)."""
        return Response(accounting_sync.preview(request.user, self.cluster(pk)))


class AccountApplyView(ClusterScoped):
    @extend_schema(request=None, responses={202: JobSerializer})
    def post(self, request, pk):
        """Run the sacctmgr commands (a job; one audit entry names it)."""
        return accepted(accounting_sync.start_apply(request.user, self.cluster(pk)))


class AccountCheckView(ClusterScoped):
    @extend_schema(request=None, responses={202: JobSerializer})
    def post(self, request, pk):
        """The drift check (a job): stores per project account what sacctmgr would still change."""
        return accepted(accounting_sync.start_check(request.user, self.cluster(pk)))


class AssociationsView(ClusterScoped):
    @extend_schema(responses={200: dict})
    def get(self, request, pk):
        """Associations as `sacctmgr show assoc` reports them now (read-only)."""
        return Response(accounting_sync.live(request.user, self.cluster(pk), "associations"))


class QosView(ClusterScoped):
    @extend_schema(responses={200: dict})
    def get(self, request, pk):
        """QOS as `sacctmgr show qos` reports them now (read-only)."""
        return Response(accounting_sync.live(request.user, self.cluster(pk), "qos"))
