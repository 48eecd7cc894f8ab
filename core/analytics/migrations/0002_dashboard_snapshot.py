from django.db import migrations, models

import core.clock


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_customer_mrr_and_export_jobs"),
    ]

    operations = [
        migrations.CreateModel(
            name="DashboardSnapshot",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("refreshed_at", models.DateTimeField(db_index=True, default=core.clock.now)),
                ("duration_ms", models.PositiveIntegerField(default=0, help_text="How long the refresh took")),
                ("figures", models.JSONField(default=dict)),
            ],
            options={
                "ordering": ["-refreshed_at", "-id"],
                "get_latest_by": ("refreshed_at", "id"),
            },
        ),
    ]
