"""Suspension and termination policy per service type."""

from django.contrib import admin

from core.billing.models import (
    SuspensionPolicy,
)

from ..base import (
    ModelAdmin,
)
from ..labels import column


@admin.register(SuspensionPolicy)
class SuspensionPolicyAdmin(ModelAdmin):
    list_display = (
        "service_type",
        "suspend_after_days",
        "terminate_after_days",
        column(SuspensionPolicy, "is_enabled"),
    )
    list_filter = ("is_enabled",)
