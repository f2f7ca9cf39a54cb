from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.params import int_query_param
from apps.jobs import services
from apps.jobs.filters import JobFilter
from apps.jobs.models import JobEvent

from .serializers import JobEventSerializer, JobSerializer, JobStartSerializer


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Long operations. Lists and details show only the jobs the user may see."""

    serializer_class = JobSerializer
    filterset_class = JobFilter
    ordering_fields = ["created_at", "finished_at", "status", "kind"]
    search_fields = ["kind", "target_repr", "current_step"]

    def get_queryset(self):
        return services.visible_jobs(self.request.user).select_related("requester", "target_type")

    @extend_schema(request=JobStartSerializer, responses={202: JobSerializer})
    def create(self, request):
        shape = JobStartSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        job = services.start_job(request.user, shape.validated_data["kind"], shape.validated_data.get("params"))
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = services.cancel_job(request.user, self.get_object())
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = services.retry_job(request.user, self.get_object())
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Only events with a sequence number above this"),
                    OpenApiParameter("limit", int, description="At most this many events (default 1000)")],
        responses={200: JobEventSerializer(many=True)},
    )
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        job = self.get_object()
        after = int_query_param(request, "after", 0, minimum=0)
        limit = int_query_param(request, "limit", 1000, minimum=1, maximum=10000)
        events = JobEvent.objects.filter(job=job, seq__gt=after).order_by("seq")[:limit]
        return Response(JobEventSerializer(events, many=True).data)
