from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "core.support"
    label = "support"
    verbose_name = "Support"

    def ready(self):
        from . import checks, signals  # noqa: F401  (checks registers the deploy checks)

        signals.connect()
