from django.apps import AppConfig


class PortalApiConfig(AppConfig):
    """The REST API's own bookkeeping (idempotency keys). The API itself is built in portal.api.urls."""

    name = "portal.api"
    label = "portal_api"
    verbose_name = "REST API"
    default_auto_field = "django.db.models.BigAutoField"
