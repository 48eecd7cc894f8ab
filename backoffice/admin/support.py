"""Support in the admin: the SupportPal ticket mirror (read-only) and portal announcements."""

from django.contrib import admin
from unfold.contrib.filters.admin import AllValuesCheckboxFilter, RangeDateFilter
from unfold.decorators import display

from core.support.models import Announcement, SupportTicket

from .base import ModelAdmin, ReadOnlyModelAdmin


@admin.register(SupportTicket)
class SupportTicketAdmin(ReadOnlyModelAdmin):
    """A mirror kept by SupportPal webhooks; replies happen in SupportPal."""

    list_display = ("ticket_cell", "customer_cell", "status_badge", "priority", "department", "last_reply_at")
    list_select_related = ("customer__user", "service")
    list_filter = (("status", AllValuesCheckboxFilter), ("updated_at", RangeDateFilter))
    list_filter_submit = True
    search_fields = ("number", "external_id", "subject", "customer__company", "customer__user__email")

    @display(description="Ticket", header=True, ordering="number")
    def ticket_cell(self, obj):
        return [obj.subject, f"#{obj.number or obj.external_id}"]

    @display(description="Customer", header=True)
    def customer_cell(self, obj):
        if obj.customer_id is None:
            return ["—", ""]
        return [obj.customer.display_name, obj.customer.user.email]

    @display(description="Status", label=True, ordering="status")
    def status_badge(self, obj):
        return obj.status


@admin.register(Announcement)
class AnnouncementAdmin(ModelAdmin):
    list_display = ("title", "published_badge", "published_at", "created_at")
    list_filter = ("is_published",)
    search_fields = ("title", "body")

    @display(description="Published", label={"yes": "success", "no": "info"}, ordering="is_published")
    def published_badge(self, obj):
        return ("yes", "Published") if obj.is_published else ("no", "Draft")
