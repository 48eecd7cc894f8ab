"""The staff role groups (Support, Billing, Admin). Their permissions are granted after migrate by
core.accounts.roles.sync_role_groups (permissions rows exist only once every app has migrated)."""

from django.db import migrations

ROLE_NAMES = ("Support", "Billing", "Admin")


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_NAMES:
        Group.objects.using(schema_editor.connection.alias).get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_customer_staff_notes"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
