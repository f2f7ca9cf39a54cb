"""Allocations API: list/detail of what you may see, request (POST), release (DELETE), approve,
reject, extend, cancel, and availability over a window. Every change goes through
apps.allocations.services, as the pages' do."""
import datetime as dt

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from apps.core.api.lists import LeanViewSetMixin
from apps.core.api.permissions import StrictModelPermissions
from apps.rbac.api.mixins import RestrictedQuerysetMixin

from .. import availability as free, services
from ..filters import AllocationFilter
from ..models import Allocation
from .serializers import (AllocationListSerializer, AllocationSerializer, AvailabilitySerializer,
                          DecisionSerializer, ExtendSerializer, RequestSerializer)


class MayViewAllocations(IsAuthenticated):
    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.has_perm("allocations.view_allocation")


class AllocationPermissions(StrictModelPermissions):
    """DELETE releases: it needs the cancel permission, not delete (allocations are never deleted)."""

    perms_map = {**StrictModelPermissions.perms_map, "DELETE": ["%(app_label)s.cancel_%(model_name)s"]}


class AllocationViewSet(LeanViewSetMixin, RestrictedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    """GPU allocations of your projects. POST requests GPUs (auto-approved within the project's
    quota, otherwise pending); 409 names the constraint that failed and the earliest start that
    fits. DELETE releases the GPUs now (a pending request is cancelled)."""

    queryset = Allocation.objects.all()
    serializer_class = AllocationSerializer
    list_serializer_class = AllocationListSerializer
    permission_classes = [AllocationPermissions]
    filterset_class = AllocationFilter
    cursor_ordering = ("-id",)
    search_fields = ["purpose", "gpu_model"]
    ordering_fields = ["id", "start", "end", "state", "created_at"]

    def get_rbac_action(self):
        if self.request.method == "DELETE":
            return "cancel"
        return super().get_rbac_action()

    def _answer(self, allocation, code=status.HTTP_200_OK):
        allocation = self.get_queryset().model.objects.prefetch_related("gpus__gpu__node", "nodes").select_related(
            "project", "requester", "decided_by").get(pk=allocation.pk)
        return Response(AllocationSerializer(allocation, context=self.get_serializer_context()).data, status=code)

    @extend_schema(request=RequestSerializer, responses={201: AllocationSerializer})
    def create(self, request):
        data = RequestSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        allocation = services.request_allocation(request.user, **data.validated_data)
        return self._answer(allocation, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: AllocationSerializer})
    def destroy(self, request, pk=None):
        return self._answer(services.release(request.user, self.get_object()))

    @extend_schema(request=DecisionSerializer, responses={200: AllocationSerializer})
    @action(detail=True, methods=["post"], rbac_action="approve")
    def approve(self, request, pk=None):
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(services.approve(request.user, self.get_object(), data.validated_data["comment"]))

    @extend_schema(request=DecisionSerializer, responses={200: AllocationSerializer})
    @action(detail=True, methods=["post"], rbac_action="approve")
    def reject(self, request, pk=None):
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(services.reject(request.user, self.get_object(), data.validated_data["comment"]))

    @extend_schema(request=ExtendSerializer, responses={200: AllocationSerializer})
    @action(detail=True, methods=["post"], rbac_action="change")
    def extend(self, request, pk=None):
        data = ExtendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(services.extend(request.user, self.get_object(), **data.validated_data))

    @extend_schema(request=None, responses={200: AllocationSerializer})
    @action(detail=True, methods=["post"], rbac_action="cancel")
    def cancel(self, request, pk=None):
        return self._answer(services.cancel(request.user, self.get_object()))

    @extend_schema(parameters=[OpenApiParameter("start", str), OpenApiParameter("end", str),
                               OpenApiParameter("model", str)], responses={200: dict})
    @action(detail=False, methods=["get"], permission_classes=[MayViewAllocations])
    def availability(self, request):
        """Free healthy GPUs over [start, end) (default: the next hour): by node and model for the
        nodes you may see, and fleet-wide totals by model."""
        params = AvailabilitySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        start = params.validated_data.get("start") or timezone.now()
        end = params.validated_data.get("end") or start + dt.timedelta(hours=1)
        return Response(free.summary(request.user, start, end, params.validated_data["model"]))
