from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from apps.core import health
from apps.core.filters import AuditEventFilter
from apps.core.models import AuditEvent

from .lists import LeanViewSetMixin
from .permissions import StrictModelPermissions
from .serializers import AuditEventSerializer


class AuditEventViewSet(LeanViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """The audit log: read-only, for holders of core.view_auditevent. `?cursor=` pages it newest
    first by id, without OFFSET or COUNT."""

    queryset = AuditEvent.objects.all()
    cursor_ordering = ("-id",)
    serializer_class = AuditEventSerializer
    permission_classes = [StrictModelPermissions]
    filterset_class = AuditEventFilter
    ordering_fields = ["timestamp", "action"]
    search_fields = ["object_repr", "actor_repr", "action"]


@extend_schema(responses={200: dict, 503: dict})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def health_view(request):
    """200 when the database and Redis answer and every queue has a live Celery consumer; 503 naming the failure.
    Open to load balancers; it reveals only check names and short messages."""
    results = health.health_checks()
    failing = [r.name for r in results if not r.ok]
    body = {
        "status": "ok" if not failing else "fail",
        "checks": {r.name: {"ok": r.ok, "message": r.message, "elapsed_ms": r.elapsed_ms} for r in results},
    }
    if failing:
        body["failing"] = failing
    return Response(body, status=200 if not failing else 503)
