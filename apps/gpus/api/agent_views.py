"""Node agent API: enrollment (token -> credential), credentials and revocation. Enrollment tokens
are issued by the key vault (purpose `node-enrollment`, subject: the node's name).

The views are thin: apps.gpus.agent_auth does the checks, the key vault the one-time redemption,
and both write the audit entries.
"""
from __future__ import annotations

import time

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.caching import never_cached
from apps.core import request_context
from apps.core.api.lists import LeanViewSetMixin
from apps.core.api.permissions import StrictModelPermissions
from apps.core.api.throttles import AnonRateThrottle
from apps.gpus import agent_auth
from apps.gpus.models_agent import NodeCredential
from apps.keyvault import onetime



class NodeCredentialSerializer(serializers.ModelSerializer):
    node_name = serializers.CharField(source="node.name", read_only=True)
    state = serializers.CharField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    revoked_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = NodeCredential
        fields = ["id", "node", "node_name", "key_id", "state", "hostname", "created_at", "created_by",
                  "enrolled_from", "last_used_at", "last_used_ip", "revoked_at", "revoked_by", "revoked_reason"]
        read_only_fields = fields


class RevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class EnrollSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2048)
    timestamp = serializers.FloatField(required=False, help_text="The agent's clock, unix seconds (optional)")
    hostname = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class EnrollView(APIView):
    """Exchange a node's one-time enrollment token for its agent credential. No login: the
    signed token is the credential. 200: {credential, key_id, node: {id, name}, telemetry_path}
    (the credential is in this answer only). Refusals as the key vault's redeem: {"code", "detail"}
    with invalid 400, forged 403, wrong_ip 403, unknown 404, replayed 409, unavailable 409,
    expired 410; a token of another purpose is 400 and stays unused."""

    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    throttle_classes = [AnonRateThrottle]

    @extend_schema(request=EnrollSerializer, responses={200: OpenApiResponse(description="the node credential"),
                                                        400: dict, 403: dict, 404: dict, 409: dict, 410: dict})
    def post(self, request):
        try:
            data = request.data
        except ParseError:
            data = None
        shape = EnrollSerializer(data=data if isinstance(data, dict) else {})
        shape.is_valid(raise_exception=True)
        values = shape.validated_data
        # The key vault's request-time check bounds the replay of a captured request; an agent that
        # does not send its clock is checked against ours (the token itself is still single-use).
        timestamp = values.get("timestamp", time.time())
        try:
            body = agent_auth.enroll(values["token"], timestamp, request_context.client_ip(request.META),
                                     hostname=values.get("hostname", ""))
        except onetime.RedeemRefused as exc:
            return never_cached(Response(exc.as_dict(), status=exc.status))
        return never_cached(Response({k: body[k] for k in ("credential", "key_id", "node", "telemetry_path")}))


class CredentialPermissions(StrictModelPermissions):
    """Model permissions by method; revoking needs view and change (the object check is the service's)."""

    def has_permission(self, request, view):
        if getattr(view, "action", None) == "revoke":
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(
                ["gpus.view_nodecredential", "gpus.change_nodecredential"]))
        return super().has_permission(request, view)


class NodeCredentialViewSet(LeanViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                            viewsets.GenericViewSet):
    """Agent credentials (metadata only; the credential string is never stored). `?node=<id>`
    narrows to one node. POST .../revoke/ ends one: the agent's next push answers 401."""

    serializer_class = NodeCredentialSerializer
    permission_classes = [CredentialPermissions]
    renderer_classes = [JSONRenderer]
    cursor_ordering = ("-created_at", "-id")
    ordering_fields = ["created_at", "last_used_at"]
    search_fields = ["key_id", "hostname", "node__name"]
    filterset_fields = ["node", "key_id"]

    def get_queryset(self):
        return agent_auth.visible_credentials(self.request.user)

    @extend_schema(request=RevokeSerializer, responses={200: NodeCredentialSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        credential = self.get_object()
        shape = RevokeSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        credential = agent_auth.revoke_credential(request.user, credential, shape.validated_data["reason"])
        return Response(NodeCredentialSerializer(credential).data)
