"""The seed's default alert rules (GPU resource management README): GPU temperature > 85 C,
GPU utilization > 95 %, GPU memory use > 90 %, job error rate > 5 % over an hour. Installed once;
operators may change or disable them afterwards (a later run of this migration never happens)."""
from django.db import migrations

DEFAULTS = [
    dict(name="GPU temperature above 85 C", metric="gpu.temperature_c", comparison=">", threshold=85.0,
         for_seconds=300, severity="critical", description="The seed's default: GPU temperature > 85 C."),
    dict(name="GPU utilization above 95 %", metric="gpu.utilization_pct", comparison=">", threshold=95.0,
         for_seconds=900, severity="info", description="The seed's default: GPU utilization > 95 %."),
    dict(name="GPU memory use above 90 %", metric="gpu.memory_used_pct", comparison=">", threshold=90.0,
         for_seconds=600, severity="warning", description="The seed's default: GPU memory use > 90 %."),
    dict(name="Job error rate above 5 % over an hour", metric="job.error_rate_pct", comparison=">", threshold=5.0,
         for_seconds=0, window_seconds=3600, severity="warning",
         description="The seed's default: failed jobs > 5 % of the jobs that ended in the last hour."),
]


def install(apps, schema_editor):
    AlertRule = apps.get_model("events", "AlertRule")
    for fields in DEFAULTS:
        AlertRule.objects.get_or_create(name=fields["name"], defaults=fields)


def remove(apps, schema_editor):
    apps.get_model("events", "AlertRule").objects.filter(name__in=[d["name"] for d in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
