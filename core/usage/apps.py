from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "core.usage"
    label = "usage"
    verbose_name = "Usage"

    def ready(self):
        from . import signals  # noqa: F401
