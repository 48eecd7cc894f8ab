"""The audit log in the admin: read-only, searchable, filterable by customer, actor, action, object
and source, and exportable (CSV/XLSX). Never added to or deleted from here."""

from django.contrib import admin
from import_export import fields, resources
from import_export.admin import ExportMixin
from unfold.contrib.filters.admin import (
    AllValuesCheckboxFilter,
    AutocompleteSelectFilter,
    RangeDateTimeFilter,
    TextFilter,
)
from unfold.contrib.import_export.forms import ExportForm
from unfold.decorators import display

from core.audit.models import AuditLog

from ..resources import FORMATS
from .base import ReadOnlyModelAdmin
from .labels import column


class ActionPrefixFilter(TextFilter):
    title = "Action starts with"
    parameter_name = "action_prefix"

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action__startswith=self.value())
        return queryset


class ObjectFilter(TextFilter):
    """`billing.invoice:42`, `billing.invoice` or `42`: every entry about that object (or type, or id)."""

    title = "Object (type:id)"
    parameter_name = "object"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        if not value:
            return queryset
        kind, _, pk = value.partition(":")
        if pk:
            return queryset.filter(object_type=kind, object_id=pk)
        if "." in kind:
            return queryset.filter(object_type=kind)
        return queryset.filter(object_id=kind)


class AuditLogResource(resources.ModelResource):
    actor_email = fields.Field(column_name="actor", attribute="actor__email", readonly=True)
    impersonator_email = fields.Field(column_name="impersonator", attribute="impersonator__email", readonly=True)
    customer_email = fields.Field(column_name="customer", attribute="customer__user__email", readonly=True)

    class Meta:
        model = AuditLog
        fields = ("created_at", "action", "source", "actor_email", "impersonator_email", "customer_email",
                  "object_type", "object_id", "object_repr", "message", "before", "after", "data", "ip_address",
                  "user_agent")  # fmt: skip
        export_order = fields

    def get_queryset(self):
        return AuditLog.objects.select_related("actor", "impersonator", "customer__user").order_by("created_at", "id")


@admin.register(AuditLog)
class AuditLogAdmin(ExportMixin, ReadOnlyModelAdmin):
    resource_classes = [AuditLogResource]
    formats = FORMATS
    export_form_class = ExportForm
    list_display = (
        "action_cell",
        "actor_cell",
        "object_repr",
        "customer",
        "source_badge",
        column(AuditLog, "ip_address"),
        "created_at",
    )
    list_select_related = ("actor", "impersonator", "customer__user")
    list_filter = (
        ActionPrefixFilter,
        ObjectFilter,
        ("customer", AutocompleteSelectFilter),
        ("actor", AutocompleteSelectFilter),
        ("source", AllValuesCheckboxFilter),
        ("created_at", RangeDateTimeFilter),
    )
    list_filter_submit = True
    search_fields = ("action", "object_repr", "object_id", "message", "actor__email", "ip_address")
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = ("created_at", "action", "actor", "impersonator", "customer", "object_type", "object_id",
                       "object_repr", "message", "changes", "before", "after", "data", "ip_address", "user_agent",
                       "source")  # fmt: skip

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

    @display(description="Changes")
    def changes(self, obj):
        before, after = obj.before or {}, obj.after or {}
        return "; ".join(f"{k}: {before.get(k)!r} → {after.get(k)!r}" for k in obj.changed_fields) or "—"
