from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "core.provisioning"
    label = "provisioning"
    verbose_name = "Provisioning"
