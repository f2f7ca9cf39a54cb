"""Slurm jobs API: the queue (per cluster and across clusters), submit, job detail with GPU
efficiency, actions (cancel, hold, release, requeue, signal), output (bounded, by offset),
history through sacct, idle-GPU jobs, and job templates. Every change goes through the services
(apps.clusters.submit / job_actions / job_templates), as the pages' do."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.lists import LeanViewSetMixin
from apps.core.api.permissions import StrictModelPermissions
from apps.rbac.api.mixins import RestrictedQuerysetMixin

from .. import efficiency, job_actions, job_templates, submit
from ..models import Cluster, JobTemplate, SlurmJob
from .job_serializers import (HistoryQuerySerializer, JobActionSerializer, JobTemplateListSerializer,
                              JobTemplateSerializer, OutputQuerySerializer, SlurmJobListSerializer,
                              SlurmJobSerializer, SubmitSerializer)

QUEUE_FILTERS = [OpenApiParameter(name, str, description=text) for name, text in (
    ("cluster", "cluster id"), ("user", "Slurm user"), ("account", "Slurm account"),
    ("state", "job state(s), comma-separated; ACTIVE = pending, running, suspended, completing"),
    ("partition", "partition"))]


class SlurmJobViewSet(LeanViewSetMixin, RestrictedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      viewsets.GenericViewSet):
    """Slurm jobs of every cluster you may see, as the last queue sync stored them (filters:
    cluster, user, account, state, partition). Detail: script and GPU efficiency."""

    queryset = SlurmJob.objects.all()
    serializer_class = SlurmJobSerializer
    list_serializer_class = SlurmJobListSerializer
    permission_classes = [StrictModelPermissions]
    cursor_ordering = ("-id",)
    search_fields = ["name", "job_id", "user", "account"]
    ordering_fields = ["id", "submitted_at", "started_at", "state", "user"]

    def get_queryset(self):
        return super().get_queryset().select_related("cluster")  # str(job) names its cluster (brief rows)

    def filter_queryset(self, queryset):
        params = self.request.query_params
        cluster = params.get("cluster") or getattr(self, "cluster_pk", None)
        if cluster:
            if not str(cluster).isdigit():
                raise NotFound("Unknown cluster.")
            queryset = queryset.filter(cluster_id=int(cluster))
        queryset = job_actions.queue_filters(queryset, **{k: params.get(k, "")[:64] for k in (
            "user", "account", "state", "partition")})
        return super().filter_queryset(queryset)

    @extend_schema(parameters=QUEUE_FILTERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _act(self, request, verb: str):
        data = JobActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = job_actions.act(request.user, self.get_object(), verb, signal=data.validated_data["signal"])
        return Response(SlurmJobSerializer(job, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: SlurmJobSerializer})
    @action(detail=True, methods=["post"], rbac_action="cancel")
    def cancel(self, request, pk=None):
        """scancel (as the job's Slurm user for your own job; operators as the portal's SSH user)."""
        return self._act(request, "cancel")

    @extend_schema(request=None, responses={200: SlurmJobSerializer})
    @action(detail=True, methods=["post"], rbac_action="cancel")
    def hold(self, request, pk=None):
        return self._act(request, "hold")

    @extend_schema(request=None, responses={200: SlurmJobSerializer})
    @action(detail=True, methods=["post"], rbac_action="cancel")
    def release(self, request, pk=None):
        return self._act(request, "release")

    @extend_schema(request=None, responses={200: SlurmJobSerializer})
    @action(detail=True, methods=["post"], rbac_action="cancel")
    def requeue(self, request, pk=None):
        return self._act(request, "requeue")

    @extend_schema(request=JobActionSerializer, responses={200: SlurmJobSerializer})
    @action(detail=True, methods=["post"], rbac_action="cancel")
    def signal(self, request, pk=None):
        """Send a signal to every step and the batch shell (`signal`: TERM, USR1, 15...)."""
        return self._act(request, "signal")

    @extend_schema(parameters=[OpenApiParameter("offset", int, description="byte offset; none: the tail"),
                               OpenApiParameter("max_bytes", int, description="at most this many bytes")],
                   responses={200: dict})
    @action(detail=True, methods=["get"])
    def output(self, request, pk=None):
        """The job's output file, bounded: the tail, or from `offset` (follow with `next_offset`)."""
        query = OutputQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(job_actions.read_output(request.user, self.get_object(), **query.validated_data))

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def efficiency(self, request, pk=None):
        """Utilization and memory of exactly the GPUs the job held, per GPU and overall."""
        return Response(efficiency.efficiency(self.get_object()))


class ClusterJobsViewSet(SlurmJobViewSet):
    """/clusters/<id>/jobs/: the cluster's queue (GET, same filters) and submit (POST)."""

    def _cluster(self, *, for_submit=False) -> Cluster:
        source = submit.submittable_clusters(self.request.user) if for_submit else \
            job_actions.visible_clusters_for_jobs(self.request.user)
        return get_object_or_404(source, pk=self.kwargs["pk"])

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated()]  # the service checks clusters.add_slurmjob and the project
        return super().get_permissions()

    @extend_schema(parameters=QUEUE_FILTERS[1:], responses={200: SlurmJobListSerializer(many=True)})
    def cluster_list(self, request, pk=None):
        self.cluster_pk = self._cluster().pk
        self.action = "list"
        return self.list(request)

    @extend_schema(request=SubmitSerializer, responses={201: SlurmJobSerializer})
    def submit(self, request, pk=None):
        """Submit a job: `sbatch --parsable` with the script on stdin as your mapped Slurm user;
        refused (400, naming the limit) when it breaks the project's limits."""
        if not request.user.has_perm("clusters.add_slurmjob"):
            return Response({"detail": "You may not submit Slurm jobs."}, status=status.HTTP_403_FORBIDDEN)
        cluster = self._cluster(for_submit=True)
        data = SubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        template_pk = values.pop("template", None)
        if template_pk:
            req = submit.from_template(submit.usable_template(request.user, template_pk), **values)
        else:
            req = submit.JobRequest(**{k: v for k, v in values.items() if v is not None})
        job = submit.submit_job(request.user, cluster, req)
        return Response(SlurmJobSerializer(job, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED)


class JobHistoryView(APIView):
    """Finished and running jobs from sacct between `start` and `end` (ISO; default the last day);
    your projects' accounts unless you are an operator."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[OpenApiParameter(n, str) for n in ("start", "end", "user", "account")],
                   responses={200: dict})
    def get(self, request, pk):
        if not request.user.has_perm("clusters.view_slurmjob"):
            return Response({"detail": "You may not see Slurm jobs."}, status=status.HTTP_403_FORBIDDEN)
        cluster = get_object_or_404(job_actions.visible_clusters_for_jobs(request.user), pk=pk)
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = job_actions.history(request.user, cluster, **query.validated_data)
        return Response({"count": len(rows), "results": rows})


class IdleGpuJobsView(APIView):
    """Running jobs holding GPUs under SLURM_IDLE_GPU_UTIL_PCT for SLURM_IDLE_GPU_MINUTES
    (`?cluster=<id>` for one cluster)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[OpenApiParameter("cluster", int)], responses={200: dict})
    def get(self, request):
        if not request.user.has_perm("clusters.view_slurmjob"):
            return Response({"detail": "You may not see Slurm jobs."}, status=status.HTTP_403_FORBIDDEN)
        jobs = job_actions.visible_jobs(request.user)
        cluster = request.query_params.get("cluster", "")
        if cluster:
            if not cluster.isdigit():
                return Response({"cluster": ["A cluster id."]}, status=status.HTTP_400_BAD_REQUEST)
            jobs = jobs.filter(cluster_id=int(cluster))
        found = efficiency.idle_gpu_jobs(jobs)
        rows = [{"id": item["job"].pk, "cluster": item["job"].cluster.name, "job_id": item["job"].job_id,
                 "name": item["job"].name, "user": item["job"].user, "account": item["job"].account,
                 "started_at": item["job"].started_at, "gpus_held": item["held"], "idle_gpus": item["idle"],
                 "minutes": item["minutes"]} for item in found]
        return Response({"count": len(rows), "results": rows})


class JobTemplateViewSet(LeanViewSetMixin, RestrictedQuerysetMixin, viewsets.ModelViewSet):
    """Job templates: saved submit forms (script and resources) of a project."""

    queryset = JobTemplate.objects.all()
    serializer_class = JobTemplateSerializer
    list_serializer_class = JobTemplateListSerializer
    permission_classes = [StrictModelPermissions]
    cursor_ordering = ("-id",)
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at"]

    def perform_create(self, serializer):
        serializer.instance = job_templates.create_template(self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = job_templates.update_template(self.request.user, serializer.instance,
                                                            **serializer.validated_data)

    def perform_destroy(self, instance):
        job_templates.delete_template(self.request.user, instance)
