"""The audit log in the admin: read-only, never added to or deleted from here."""

from django.contrib import admin
from unfold.contrib.filters.admin import AllValuesCheckboxFilter, RangeDateTimeFilter, TextFilter
from unfold.decorators import display

from core.audit.models import AuditLog

from .base import ReadOnlyModelAdmin
from .labels import column


class ActionPrefixFilter(TextFilter):
    title = "Action starts with"
    parameter_name = "action_prefix"

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action__startswith=self.value())
        return queryset


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyModelAdmin):
    list_display = (
        "action_cell",
        "actor_cell",
        "object_repr",
        "source_badge",
        column(AuditLog, "ip_address"),
        "created_at",
    )
    list_select_related = ("actor", "impersonator")
    list_filter = (ActionPrefixFilter, ("source", AllValuesCheckboxFilter), ("created_at", RangeDateTimeFilter))
    list_filter_submit = True
    search_fields = ("action", "object_repr", "object_id", "message", "actor__email", "ip_address")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at", "action", "actor", "impersonator", "object_type", "object_id", "object_repr",
                       "message", "before", "after", "data", "ip_address", "user_agent", "source")  # fmt: skip

    @display(description="Action", header=True, ordering="action")
    def action_cell(self, obj):
        return [obj.action, obj.message[:80]]

    @display(description="Actor", header=True)
    def actor_cell(self, obj):
        actor = obj.actor.email if obj.actor_id else "system"
        return [actor, f"as impersonator {obj.impersonator.email}" if obj.impersonator_id else ""]

    @display(description="Source", label=True, ordering="source")
    def source_badge(self, obj):
        return obj.source
