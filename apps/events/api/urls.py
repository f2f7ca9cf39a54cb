from apps.core.api.routers import ApiRouter

from .views import AlertRuleViewSet, AlertViewSet, EventRuleViewSet, EventViewSet, WebhookDeliveryViewSet

router = ApiRouter()
router.register("events", EventViewSet, basename="event")
router.register("event-rules", EventRuleViewSet, basename="eventrule")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhookdelivery")
router.register("alert-rules", AlertRuleViewSet, basename="alertrule")
router.register("alerts", AlertViewSet, basename="alert")
urlpatterns = router.urls
