"""GET /api/v1/allocations/usage/?project=<id or name>&month=YYYY-MM: allocated, used and idle
GPU-hours per project and allocation (definitions in apps.allocations.usage); ?export=csv gives
the same rows as CSV. Only the allocations the caller may see count."""
import csv
import io

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..fleet_views import usage_for
from ..usage import csv_rows
from .views import MayViewAllocations


class AllocationUsageView(APIView):
    permission_classes = [MayViewAllocations]

    @extend_schema(parameters=[OpenApiParameter("project", str), OpenApiParameter("month", str),
                               OpenApiParameter("export", str, enum=["csv"])], responses={200: dict})
    def get(self, request):
        data = usage_for(request.user, project=request.query_params.get("project", ""),
                         month=request.query_params.get("month", ""))
        if request.query_params.get("export") == "csv":
            buffer = io.StringIO()
            csv.writer(buffer).writerows(csv_rows(data))
            answer = HttpResponse(buffer.getvalue(), content_type="text/csv", status=status.HTTP_200_OK)
            answer["Content-Disposition"] = f'attachment; filename="allocation-usage-{data["month"]}.csv"'
            return answer
        return Response(data)
