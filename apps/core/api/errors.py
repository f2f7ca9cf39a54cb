"""One error shape for the whole API: DRF's field map for validation errors, {"detail": ...}
for the rest; service errors keep their own status (400/403/409)."""
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import ServiceError


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, DjangoPermissionDenied):
        return Response({"detail": str(exc) or "You do not have permission to perform this action."}, status=403)
    return drf_exception_handler(exc, context)
