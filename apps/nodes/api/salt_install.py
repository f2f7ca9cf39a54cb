"""POST /api/v1/salt/batch-install/: install and enroll Salt minions over SSH on nodes named in the
body, or on the hosts of an inventory file (CSV/JSON/YAML, the node import's format). 202 with
the job; each host's steps and result stream on it. The permission is decided before the body
(and any file) is parsed."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.views import APIView

from apps.core.api.parsers import FormParser, JSONParser, MultiPartParser
from apps.jobs.api.responses import accepted

from .. import importer, salt_install_job
from ..job_kinds import NodeRef


class MayInstallMinions(BasePermission):
    message = salt_install_job.REFUSED

    def has_permission(self, request, view):
        return salt_install_job.may_install(request.user)


class BatchInstallSerializer(serializers.Serializer):
    nodes = serializers.ListField(child=NodeRef(), required=False, max_length=salt_install_job.MAX_HOSTS,
                                  help_text="node names or ids; or send an inventory `file` / `content` instead")
    file = serializers.FileField(required=False, help_text="inventory: CSV, JSON or YAML (the node import's columns)")
    content = serializers.CharField(required=False, max_length=importer.MAX_FILE_BYTES)
    format = serializers.ChoiceField(choices=["csv", "json", "yaml"], required=False)
    master = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)
    minion_id = serializers.CharField(required=False, max_length=120, default=salt_install_job.MINION_ID_TEMPLATE)
    parallel = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=100)
    portal_url = serializers.CharField(required=False, max_length=300,
                                       help_text="the portal as the hosts reach it (default: this request's)")

    def validate(self, attrs):
        inventory = "file" in attrs or "content" in attrs
        if bool(attrs.get("nodes")) == inventory:
            raise serializers.ValidationError({"nodes": ["Name nodes, or send an inventory file; one of the two."]})
        return attrs


class BatchInstallView(APIView):
    permission_classes = [IsAuthenticated, MayInstallMinions]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(request=BatchInstallSerializer, responses={202: dict, 400: dict, 403: dict})
    def post(self, request):
        data = BatchInstallSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        job = salt_install_job.start_batch_install(
            request.user, nodes=values.get("nodes"),
            inventory=None if values.get("nodes") else importer.read_upload(values),
            master=values.get("master"), minion_id=values["minion_id"],
            parallel=values.get("parallel"), portal_url=values.get("portal_url") or request.build_absolute_uri("/"))
        return accepted(job)
