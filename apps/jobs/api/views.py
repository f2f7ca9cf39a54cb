from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.lists import LeanViewSetMixin
from apps.core.api.pagination import CURSOR_PARAM, KeysetPagination
from apps.core.api.params import int_query_param
from apps.jobs import services
from apps.jobs.filters import JobFilter
from apps.jobs.models import JobEvent

from .serializers import JobEventSerializer, JobListSerializer, JobSerializer, JobStartSerializer


class JobViewSet(LeanViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Long operations. Lists and details show only the jobs the user may see."""

    serializer_class = JobSerializer
    list_serializer_class = JobListSerializer
    cursor_ordering = ("-id",)
    filterset_class = JobFilter
    ordering_fields = ["created_at", "finished_at", "status", "kind"]
    search_fields = ["kind", "target_repr", "current_step"]

    def get_queryset(self):
        return services.visible_jobs(self.request.user)  # joins: as the serializer declares (eager)

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
                    OpenApiParameter("limit", int, description=f"At most this many events (default and maximum "
                                                               f"{settings.API_MAX_PAGE_SIZE})"),
                    OpenApiParameter(CURSOR_PARAM, str, description="Keyset pages by sequence number: send it "
                                     "empty for the first page, then follow `next`; the answer is then "
                                     "{next, previous, results}.")],
        responses={200: OpenApiResponse(JobEventSerializer(many=True),
                                        description="A list; with ?cursor= a page {next, previous, results}")},
    )
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The job's events in order. Both forms are keyset reads (seq > n): deep pages cost what the
        first does."""
        job = self.get_object()
        events = JobEvent.objects.filter(job=job)
        if CURSOR_PARAM in request.query_params:
            pages = KeysetPagination(ordering=("seq",))
            page = pages.paginate_queryset(events, request, self)
            return pages.get_paginated_response(JobEventSerializer(page, many=True).data)
        after = int_query_param(request, "after", 0, minimum=0)
        limit = int_query_param(request, "limit", settings.API_MAX_PAGE_SIZE, minimum=1,
                                maximum=settings.API_MAX_PAGE_SIZE)
        return Response(JobEventSerializer(events.filter(seq__gt=after).order_by("seq")[:limit], many=True).data)
