"""Alerts for /metrics (registered with core's metrics in EventsConfig.ready()): the firing alerts
by severity, and how many of them are silenced, in one grouped query. Every severity is always
written (0 when none fires), so a Prometheus rule can compare against 0; labels are the severity
and the silenced flag only (no rule, alert or object ids), so the series stay bounded."""
from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from .models import Alert, AlertState, Severity


class AlertCollector:
    def collect(self):
        family = GaugeMetricFamily("aimatrix_alerts_firing", "Firing alerts by severity (silenced: under a silence now)",
                                   labels=["severity", "silenced"])
        silenced = Q(silenced_until__gt=timezone.now())
        rows = (Alert.objects.filter(state=AlertState.FIRING).order_by().values("rule__severity")
                .annotate(total=Count("id"), silenced=Count("id", filter=silenced)))
        counts = {row["rule__severity"]: row for row in rows}
        for severity in Severity:
            row = counts.get(severity.value, {"total": 0, "silenced": 0})
            family.add_metric([severity.value, "false"], row["total"] - row["silenced"])
            family.add_metric([severity.value, "true"], row["silenced"])
        yield family
