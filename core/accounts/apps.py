from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "core.accounts"
    label = "accounts"
    verbose_name = "Customers and staff"

    def ready(self):
        from django.db.models.signals import post_migrate

        from .roles import _after_migrate

        # After every app (auth's permissions are created by its own post_migrate handler first).
        post_migrate.connect(_after_migrate, dispatch_uid="accounts.sync_role_groups")

        from . import signals  # noqa: F401  (connects the login receivers: sessions list, second factor)
