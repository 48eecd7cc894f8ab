from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "core.analytics"
    label = "analytics"
    verbose_name = "Analytics"
