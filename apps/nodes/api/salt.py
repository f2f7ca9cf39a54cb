"""Salt API: minions (key state, fingerprint, accept by fingerprint, reject, delete, ping/version/
grains jobs, remote execution through the policy), Salt runs with per-minion returns, node
enrollment (issue, redeem, report, HMAC) and the bootstrap script. The views are thin: they call
apps.nodes.salt_services / salt_enrollment, which check permissions and write the audit."""
from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.jobs.api.responses import accepted
from apps.core import request_context
from apps.core.api.lists import LeanViewSetMixin
from apps.core.api.permissions import StrictModelPermissions
from apps.core.api.throttles import AnonRateThrottle
from apps.core.caching import never_cached
from apps.rbac.api.mixins import RestrictedQuerysetMixin
from apps.rbac.permissions import restrict

from .. import salt_enrollment, salt_services
from ..models import Node
from ..salt_models import SaltMaster, SaltMinion, SaltMinionGroup, SaltRun

BOOTSTRAP_FILE = Path(settings.BASE_DIR) / "scripts" / "salt-bootstrap.sh"


class SaltMinionSerializer(serializers.ModelSerializer):
    master_name = serializers.CharField(source="master.name", read_only=True)
    node_name = serializers.CharField(source="node.name", read_only=True, default=None)

    class Meta:
        model = SaltMinion
        fields = ["id", "master", "master_name", "minion_id", "node", "node_name", "key_state", "key_fingerprint",
                  "salt_version", "last_ping_at", "last_ping_ok", "hardware", "hardware_updated_at", "key_seen_at"]
        read_only_fields = fields


class SaltRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = SaltRun
        fields = ["id", "master", "jid", "fun", "arguments", "target", "job", "requested_by", "started_at",
                  "finished_at", "ok", "returns", "missing"]
        read_only_fields = fields


class FingerprintSerializer(serializers.Serializer):
    fingerprint = serializers.CharField(max_length=100, help_text="the key's fingerprint as `salt-key -f` shows it")


class RunSerializer(serializers.Serializer):
    minions = serializers.ListField(child=serializers.CharField(max_length=253), required=False, default=list,
                                    max_length=1000, help_text="minion ids")
    group = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1,
                                     help_text="a minion group (its minions are added to `minions`)")
    fun = serializers.CharField(max_length=100)
    arg = serializers.ListField(required=False, default=list, max_length=20)
    kwarg = serializers.DictField(required=False, default=dict)


class SaltMinionViewSet(LeanViewSetMixin, RestrictedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Salt minions as the master knows them. Accept takes the key's fingerprint and accepts only
    a pending key that has it; DELETE removes the key on the master. ping/version/grains and
    `run` answer 202 with the portal job; a function the policy refuses answers 403 naming it."""

    queryset = SaltMinion.objects.select_related("master", "node")
    serializer_class = SaltMinionSerializer
    permission_classes = [StrictModelPermissions]
    cursor_ordering = ("minion_id", "id")
    search_fields = ["minion_id", "node__name"]
    ordering_fields = ["minion_id", "key_state", "last_ping_at"]
    filterset_fields = ["master", "key_state", "node"]

    def perform_destroy(self, instance):
        salt_services.delete_key(self.request.user, instance, path="api")

    @extend_schema(request=FingerprintSerializer, responses={200: SaltMinionSerializer})
    @action(detail=True, methods=["post"], rbac_action="change")
    def accept(self, request, pk=None):
        data = FingerprintSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        minion = salt_services.accept_key(request.user, self.get_object(), data.validated_data["fingerprint"])
        return Response(SaltMinionSerializer(minion).data)

    @extend_schema(request=None, responses={200: SaltMinionSerializer})
    @action(detail=True, methods=["post"], rbac_action="change")
    def reject(self, request, pk=None):
        return Response(SaltMinionSerializer(salt_services.reject_key(request.user, self.get_object())).data)

    def _quick(self, request, name):
        minion = self.get_object()
        return accepted(salt_services.start_run(request.user, [minion], salt_services.QUICK_FUNCTIONS[name]))

    @extend_schema(request=None, responses={202: dict})
    @action(detail=True, methods=["post"], rbac_action="run")
    def ping(self, request, pk=None):
        return self._quick(request, "ping")

    @extend_schema(request=None, responses={202: dict})
    @action(detail=True, methods=["post"], rbac_action="run")
    def version(self, request, pk=None):
        return self._quick(request, "version")

    @extend_schema(request=None, responses={202: dict})
    @action(detail=True, methods=["post"], rbac_action="run")
    def grains(self, request, pk=None):
        return self._quick(request, "grains")

    @extend_schema(request=RunSerializer, responses={202: dict, 403: dict})
    @action(detail=False, methods=["post"], rbac_action="run", permission_classes=[IsAuthenticated])
    def run(self, request):
        """Run one Salt function on minions (by id) through the function policy."""
        data = RunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        ids = salt_services.minion_ids_valid(values["minions"])
        visible = restrict(SaltMinion.objects.select_related("master"), request.user, "view")
        minions = list(visible.filter(minion_id__in=ids))
        if len({m.minion_id for m in minions}) != len(set(ids)):
            return Response({"minions": ["Unknown minion."]}, status=400)
        if values.get("group"):
            group = SaltMinionGroup.objects.filter(pk=values["group"]).first()
            members = list(visible.filter(groups=group)) if group else []
            if group is None or len(members) != group.minions.count():
                return Response({"group": ["Unknown group, or it has minions you may not see."]}, status=400)
            minions += [m for m in members if m.pk not in {x.pk for x in minions}]
        if not minions:
            return Response({"minions": ["Choose minions or a group."]}, status=400)
        job = salt_services.start_run(request.user, minions, values["fun"], values["arg"], values["kwarg"] or None)
        return accepted(job)


class SaltRunViewSet(LeanViewSetMixin, RestrictedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):
    """Salt runs started from the portal: jid, function, per-minion returns and retcodes."""

    queryset = SaltRun.objects.select_related("requested_by")
    serializer_class = SaltRunSerializer
    permission_classes = [StrictModelPermissions]
    cursor_ordering = ("-started_at", "-id")
    filterset_fields = ["master", "fun", "jid"]
    ordering_fields = ["started_at"]


class EnrollNodeSerializer(serializers.Serializer):
    master = serializers.PrimaryKeyRelatedField(queryset=SaltMaster.objects.all(), required=False, allow_null=True)
    minion_id = serializers.CharField(max_length=253, required=False, allow_blank=True, default="")
    ttl = serializers.IntegerField(required=False, min_value=60, max_value=3600)


class EnrollNodeView(APIView):
    """Open a Salt enrollment for a node: a one-time token (in this answer only) and the bootstrap
    command to run on the node (it reads the token from the terminal)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=EnrollNodeSerializer, responses={201: dict})
    def post(self, request, pk):
        node = get_object_or_404(restrict(Node.objects.all(), request.user, "view"), pk=pk)
        data = EnrollNodeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        out = salt_enrollment.issue(request.user, node, master=values.get("master"), minion_id=values["minion_id"],
                                    ttl=values.get("ttl"), portal_url=request.build_absolute_uri("/"))
        enrollment = out["enrollment"]
        return never_cached(Response({"enrollment": enrollment.pk, "minion_id": enrollment.minion_id,
                                      "token": out["token"], "expires_at": out["expires_at"],
                                      "command": out["command"]}, status=201))


class _Anonymous(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    throttle_classes = [AnonRateThrottle]

    def body(self, request) -> dict:
        try:
            data = request.data
        except ParseError:
            data = None
        return data if isinstance(data, dict) else {}


def _refusal(exc) -> Response:
    return never_cached(Response(exc.as_dict(), status=exc.status))


class RedeemSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=2048)
    timestamp = serializers.FloatField(required=False)


class EnrollRedeemView(_Anonymous):
    """The bootstrap redeems its one-time token: the master's address, public key and fingerprint,
    the minion id, and a report token for the fingerprint report. No login: the token is the
    credential. A stolen (used), replayed, expired or forged token gets nothing (audited)."""

    @extend_schema(request=RedeemSerializer, responses={200: OpenApiResponse(description="minion settings"),
                                                        400: dict, 403: dict, 404: dict, 409: dict, 410: dict})
    def post(self, request):
        shape = RedeemSerializer(data=self.body(request))
        shape.is_valid(raise_exception=True)
        values = shape.validated_data
        try:
            body = salt_enrollment.redeem(values["token"], values.get("timestamp", time.time()),
                                          request_context.client_ip(request.META))
        except salt_enrollment.EnrollmentRefused as exc:
            return _refusal(exc)
        return never_cached(Response(body))


class ReportSerializer(serializers.Serializer):
    report_token = serializers.CharField(max_length=200)
    fingerprint = serializers.CharField(max_length=100)


class EnrollReportView(_Anonymous):
    """The minion's own key fingerprint (sha256 of its stripped minion.pub). 202 with the job that
    accepts the key if the master holds exactly that key, then pings it."""

    @extend_schema(request=ReportSerializer, responses={202: dict, 400: dict, 401: dict})
    def post(self, request):
        shape = ReportSerializer(data=self.body(request))
        shape.is_valid(raise_exception=True)
        try:
            enrollment, job = salt_enrollment.report(shape.validated_data["report_token"],
                                                     shape.validated_data["fingerprint"],
                                                     request_context.client_ip(request.META))
        except salt_enrollment.EnrollmentRefused as exc:
            return _refusal(exc)
        return never_cached(Response({"minion_id": enrollment.minion_id, "state": enrollment.state,
                                      "job": job.pk if job else None}, status=202))


class HmacSerializer(serializers.Serializer):
    minion_id = serializers.CharField(max_length=253)
    timestamp = serializers.IntegerField()
    nonce = serializers.CharField(max_length=64)
    signature = serializers.CharField(max_length=128)


class EnrollHmacView(_Anonymous):
    """The seed's signed request: HMAC-SHA256 over `minion_id|timestamp|nonce` with the master's
    shared secret (hex), a 5-minute window, each nonce once. Answers as the token redemption."""

    @extend_schema(request=HmacSerializer, responses={200: dict, 401: dict, 403: dict})
    def post(self, request):
        shape = HmacSerializer(data=self.body(request))
        if not shape.is_valid():
            return Response(shape.errors, status=400)
        v = shape.validated_data
        try:
            body = salt_enrollment.hmac_enroll(v["minion_id"], v["timestamp"], v["nonce"], v["signature"],
                                               request_context.client_ip(request.META))
        except salt_enrollment.EnrollmentRefused as exc:
            return _refusal(exc)
        return never_cached(Response(body))


class BootstrapScriptView(APIView):
    """The bootstrap script (scripts/salt-bootstrap.sh): no secret in it, served to anyone."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiResponse(description="a POSIX shell script")})
    def get(self, request):
        return HttpResponse(BOOTSTRAP_FILE.read_text(), content_type="text/x-shellscript; charset=utf-8")
