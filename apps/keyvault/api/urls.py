from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import OneTimeTokenViewSet, RedeemView, SecretAccessViewSet, SecretViewSet, TokenRedemptionViewSet

router = SimpleRouter()
router.register("secrets", SecretViewSet, basename="secret")
router.register("keyvault/access-log", SecretAccessViewSet, basename="keyvault-access")
router.register("keyvault/tokens", OneTimeTokenViewSet, basename="keyvault-token")
router.register("keyvault/redemptions", TokenRedemptionViewSet, basename="keyvault-redemption")

urlpatterns = [
    path("keyvault/redeem/", RedeemView.as_view(), name="keyvault-redeem"),
    *router.urls,
]
