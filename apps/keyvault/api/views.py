"""Key vault API. Every queryset goes through restrict(); services do the writes and the checks.

JSON only (no browsable API): an HTML form re-rendered after a failed POST would echo the
submitted value back.
"""
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.caching import never_cached
from apps.core import request_context
from apps.core.api.lists import LeanViewSetMixin
from apps.core.api.permissions import StrictModelPermissions
from apps.core.api.throttles import AnonRateThrottle
from apps.keyvault import onetime, services
from apps.keyvault.filters import OneTimeTokenFilter, SecretAccessFilter, SecretFilter, TokenRedemptionFilter
from apps.keyvault.models import SecretAccess, TokenRedemption
from apps.rbac.permissions import restrict

from .serializers import (OneTimeTokenSerializer, RedeemSerializer, RevealSerializer, SecretAccessSerializer,
                          SecretListSerializer, SecretSerializer, TokenIssuedSerializer, TokenIssueSerializer,
                          TokenRedemptionSerializer)


class SecretPermissions(StrictModelPermissions):
    """Model permissions by method; revealing needs keyvault.reveal_secret on top of view."""

    def has_permission(self, request, view):
        if getattr(view, "action", None) == "reveal":
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(
                ["keyvault.view_secret", "keyvault.reveal_secret"]))
        return super().has_permission(request, view)


class KeyvaultViewMixin:
    renderer_classes = [JSONRenderer]


class SecretViewSet(LeanViewSetMixin, KeyvaultViewMixin, viewsets.ModelViewSet):
    """Secrets: metadata in, metadata out. `value` is write-only; reveal is its own action."""

    serializer_class = SecretSerializer
    list_serializer_class = SecretListSerializer
    cursor_ordering = ("name",)
    permission_classes = [SecretPermissions]
    filterset_class = SecretFilter
    ordering_fields = ["name", "kind", "updated_at", "expires_at"]
    search_fields = ["name", "description"]

    def get_queryset(self):
        return services.visible_secrets(self.request.user)  # joins: as the serializer declares (eager)

    def perform_create(self, serializer):
        serializer.instance = services.create_secret(self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        kwargs = {"value": data.pop("value")} if "value" in data else {}
        serializer.instance = services.update_secret(self.request.user, serializer.instance, **kwargs, **data)

    def perform_destroy(self, instance):
        services.delete_secret(self.request.user, instance)

    @extend_schema(request=RevealSerializer, responses={200: OpenApiResponse(description="name, version, value")})
    @action(detail=True, methods=["post"])
    def reveal(self, request, pk=None):
        secret = self.get_object()
        shape = RevealSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        value = services.reveal_secret(request.user, secret, shape.validated_data.get("reason", ""))
        return never_cached(Response({"id": secret.pk, "name": secret.name, "kind": secret.kind,
                                   "version": secret.version, "value": value}))

    @extend_schema(responses={200: SecretAccessSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="access-log")
    def access_log(self, request, pk=None):
        secret = self.get_object()
        queryset = SecretAccessFilter(request.query_params,
                                      queryset=SecretAccess.objects.filter(secret=secret).select_related("actor")).qs
        self.cursor_ordering = ("-pk",)  # keyset pages of the log, not of secrets
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(SecretAccessSerializer(page, many=True).data)


class SecretAccessViewSet(LeanViewSetMixin, KeyvaultViewMixin, viewsets.ReadOnlyModelViewSet):
    """Every read of every secret value the user may see the log of (keyvault.view_secretaccess)."""

    serializer_class = SecretAccessSerializer
    permission_classes = [StrictModelPermissions]
    filterset_class = SecretAccessFilter
    ordering_fields = ["timestamp"]
    search_fields = ["secret_name", "purpose", "actor_repr"]

    def get_queryset(self):
        return restrict(SecretAccess.objects.all(), self.request.user, "view")


class OneTimeTokenViewSet(LeanViewSetMixin, KeyvaultViewMixin, mixins.CreateModelMixin, mixins.ListModelMixin,
                          mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """One-time tokens: the token string is returned once, by create; lists show its prefix only;
    DELETE revokes."""

    serializer_class = OneTimeTokenSerializer
    cursor_ordering = ("-created_at",)  # the key is a random UUID; newest first reads better
    filterset_class = OneTimeTokenFilter
    ordering_fields = ["created_at", "expires_at"]
    search_fields = ["subject", "token_prefix"]

    def get_queryset(self):
        return onetime.visible_tokens(self.request.user)

    @extend_schema(request=TokenIssueSerializer, responses={201: TokenIssuedSerializer})
    def create(self, request):
        shape = TokenIssueSerializer(data=request.data)
        shape.is_valid(raise_exception=True)
        data = shape.validated_data
        row, token = onetime.issue_token(request.user, data["purpose"], data["subject"], ttl=data.get("ttl"),
                                         bind_ip=data.get("bind_ip") or None)
        body = {"id": row.pk, "token": token, "token_prefix": row.token_prefix, "purpose": row.purpose,
                "subject": row.subject, "expires_at": row.expires_at, "bind_ip": row.bind_ip}
        return never_cached(Response(TokenIssuedSerializer(body).data, status=status.HTTP_201_CREATED))

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        onetime.revoke_token(request.user, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenRedemptionViewSet(LeanViewSetMixin, KeyvaultViewMixin, viewsets.ReadOnlyModelViewSet):
    """Redemption attempts: on the user's own tokens, or all with keyvault.view_tokenredemption."""

    serializer_class = TokenRedemptionSerializer
    filterset_class = TokenRedemptionFilter
    ordering_fields = ["timestamp"]

    def get_queryset(self):
        return restrict(TokenRedemption.objects.all(), self.request.user, "view")


class RedeemView(KeyvaultViewMixin, APIView):
    """Redeem a one-time token. No login: the signed token is the credential.

    200: the purpose's payload (for `secret`: name, kind, version, value).
    Refusals: {"code", "detail"} with invalid 400, stale_timestamp 400, forged 403, wrong_ip 403,
    unknown 404, replayed 409, unavailable 409, expired 410.
    """

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    # Tokens cannot be guessed, but the attempt log must not be flooded: per-address limit.
    throttle_classes = [AnonRateThrottle]

    @extend_schema(request=RedeemSerializer, responses={200: OpenApiResponse(description="delivered payload"),
                                                        400: dict, 403: dict, 404: dict, 409: dict, 410: dict})
    def post(self, request):
        try:
            data = request.data
        except ParseError:
            data = None
        if not isinstance(data, dict):
            data = {}
        ip = request_context.client_ip(request.META)
        try:
            body = onetime.redeem(data.get("token"), data.get("timestamp"), ip)
        except onetime.RedeemRefused as exc:
            response = Response(exc.as_dict(), status=exc.status)
        else:
            response = Response(body)
        return never_cached(response)

