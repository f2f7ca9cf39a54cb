from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("clusters", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="cluster",
            name="slurmd_restart_command",
            field=models.JSONField(blank=True, default=list,
                                   help_text="argv that restarts slurmd, run on the node's own host by the health "
                                             "job (default: sudo -n systemctl restart slurmd)."),
        ),
    ]
