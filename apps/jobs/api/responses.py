"""The answer of every API action that starts long work: 202 with the job (and what the caller
adds, e.g. the id of a cluster it created), so clients follow it at /api/v1/jobs/<id>/."""
from rest_framework import status
from rest_framework.response import Response

from .serializers import JobSerializer


def accepted(job, **extra) -> Response:
    return Response({"job": job.pk, **extra, **JobSerializer(job).data}, status=status.HTTP_202_ACCEPTED)
