"""Routes of the Salt API (apps/nodes/api/salt.py), included by apps/nodes/api/urls.py."""
from django.urls import path

from apps.core.api.routers import ApiRouter

from . import salt, salt_install

router = ApiRouter()
router.register("salt/minions", salt.SaltMinionViewSet, basename="salt-minion")
router.register("salt/runs", salt.SaltRunViewSet, basename="salt-run")

urlpatterns = [
    path("nodes/<int:pk>/enroll/", salt.EnrollNodeView.as_view(), name="node-salt-enroll"),
    path("salt/enroll/", salt.EnrollRedeemView.as_view(), name="salt-enroll"),
    path("salt/enroll/report/", salt.EnrollReportView.as_view(), name="salt-enroll-report"),
    path("salt/enroll/hmac/", salt.EnrollHmacView.as_view(), name="salt-enroll-hmac"),
    path("salt/batch-install/", salt_install.BatchInstallView.as_view(), name="salt-batch-install"),
    path("salt/bootstrap.sh", salt.BootstrapScriptView.as_view(), name="salt-bootstrap"),
    *router.urls,
]
