from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "core.accounts"
    label = "accounts"
    verbose_name = "Customers and staff"

    def ready(self):
        from . import signals  # noqa: F401  (connects the login receivers: sessions list, second factor)
