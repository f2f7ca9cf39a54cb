from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from apps.core.api.lists import Expansion, LeanViewSetMixin
from apps.core.api.permissions import StrictModelPermissions
from apps.events import services
from apps.events.filters import AlertFilter, EventFilter, WebhookDeliveryFilter
from apps.events.models import Alert, AlertRule, Event, EventRule, WebhookDelivery
from apps.rbac.api.mixins import RestrictedQuerysetMixin

from .serializers import (AlertRuleSerializer, AlertSerializer, EventListSerializer, EventRuleSerializer,
                          EventSerializer, SilenceSerializer, WebhookDeliveryListSerializer,
                          WebhookDeliverySerializer)


class ReadViewSet(LeanViewSetMixin, RestrictedQuerysetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                  viewsets.GenericViewSet):
    permission_classes = [StrictModelPermissions]


class EventViewSet(ReadViewSet):
    """Events: what happened to which object (hardware discovered, health and power changes,
    alerts, configuration changes, jobs that ended). Read-only; you see your projects' events."""

    queryset = Event.objects.all()
    serializer_class = EventSerializer
    list_serializer_class = EventListSerializer
    expandable = {"data": Expansion(serializers.JSONField)}
    filterset_class = EventFilter
    cursor_ordering = ("-id",)
    search_fields = ["message", "object_repr"]
    ordering_fields = ["timestamp", "id", "type", "severity"]


class WebhookDeliveryViewSet(ReadViewSet):
    """Webhook deliveries with their attempt log (status codes, durations, errors)."""

    queryset = WebhookDelivery.objects.all()
    serializer_class = WebhookDeliverySerializer
    list_serializer_class = WebhookDeliveryListSerializer
    expandable = {"attempts": Expansion(serializers.JSONField)}
    filterset_class = WebhookDeliveryFilter
    cursor_ordering = ("-id",)
    ordering_fields = ["created_at", "id", "state"]


class ManagedViewSet(LeanViewSetMixin, RestrictedQuerysetMixin, viewsets.ModelViewSet):
    permission_classes = [StrictModelPermissions]
    create_service = update_service = delete_service = None

    def perform_create(self, serializer):
        serializer.instance = type(self).create_service(self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = type(self).update_service(self.request.user, serializer.instance,
                                                        **serializer.validated_data)

    def perform_destroy(self, instance):
        type(self).delete_service(self.request.user, instance)


class EventRuleViewSet(ManagedViewSet):
    """Event rules: which events (types, object types, labels, project, minimum severity) go to a
    webhook (signed JSON POST) and/or e-mail recipients."""

    queryset = EventRule.objects.all()
    serializer_class = EventRuleSerializer
    cursor_ordering = ("name",)
    search_fields = ["name"]
    ordering_fields = ["name", "id"]
    create_service = staticmethod(services.create_event_rule)
    update_service = staticmethod(services.update_event_rule)
    delete_service = staticmethod(services.delete_event_rule)


class AlertRuleViewSet(ManagedViewSet):
    """Alert rules: metric, comparison, threshold, for-duration, severity and scope."""

    queryset = AlertRule.objects.all()
    serializer_class = AlertRuleSerializer
    cursor_ordering = ("name",)
    search_fields = ["name", "metric"]
    ordering_fields = ["name", "id", "metric"]
    create_service = staticmethod(services.create_alert_rule)
    update_service = staticmethod(services.update_alert_rule)
    delete_service = staticmethod(services.delete_alert_rule)


class MayAckAlerts(BasePermission):
    """Decided on the model permission first (403); the alert itself must then be reachable for
    `ack` (404 when out of sight, 403 when visible but not yours to acknowledge)."""

    message = "You may not acknowledge or silence alerts (events.ack_alert)."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.has_perm("events.ack_alert"))


class AlertViewSet(ReadViewSet):
    """Alerts (firing -> resolved, with values and times). Acknowledge and silence them."""

    queryset = Alert.objects.all()
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    cursor_ordering = ("-id",)
    search_fields = ["object_repr", "rule__name"]
    ordering_fields = ["started_at", "id", "state"]

    @extend_schema(request=None, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"], rbac_action="ack", permission_classes=[MayAckAlerts])
    def ack(self, request, pk=None):
        alert = services.ack_alert(request.user, self.get_object())
        return Response(AlertSerializer(alert, context=self.get_serializer_context()).data)

    @extend_schema(request=SilenceSerializer, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"], rbac_action="ack", permission_classes=[MayAckAlerts])
    def silence(self, request, pk=None):
        alert = self.get_object()
        params = SilenceSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        alert = services.silence_alert(request.user, alert, **params.validated_data)
        return Response(AlertSerializer(alert, context=self.get_serializer_context()).data)
