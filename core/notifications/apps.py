from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "core.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from . import bounces, checks  # noqa: F401  (registers the deploy checks)

        bounces.connect()
