from django.urls import path

from . import views

app_name = "events"
urlpatterns = [
    path("alerts/", views.AlertListView.as_view(), name="alerts"),
    path("alerts/<int:pk>/ack/", views.AlertAckView.as_view(), name="alert-ack"),
    path("alerts/<int:pk>/silence/", views.AlertSilenceView.as_view(), name="alert-silence"),
    path("events/rules/", views.EventRuleListView.as_view(), name="rules"),
    path("events/deliveries/", views.WebhookDeliveryListView.as_view(), name="deliveries"),
]
