"""Sent notifications in the admin (read-only record of every email and Discord alert)."""

from django.contrib import admin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateFilter
from unfold.decorators import display

from core.notifications.models import Notification

from .base import NOTIFICATION_STATUS, ReadOnlyModelAdmin


@admin.register(Notification)
class NotificationAdmin(ReadOnlyModelAdmin):
    list_display = ("event_cell", "channel", "recipient", "status_badge", "attempts", "created_at", "sent_at")
    list_select_related = ("customer",)
    list_filter = (("channel", ChoicesDropdownFilter), ("status", ChoicesDropdownFilter),
                   ("created_at", RangeDateFilter))  # fmt: skip
    list_filter_submit = True
    search_fields = ("event", "recipient", "subject", "dedupe_key")
    date_hierarchy = "created_at"

    @display(description="Notification", header=True, ordering="event")
    def event_cell(self, obj):
        return [obj.subject or obj.event, obj.event]

    @display(description="Status", label=NOTIFICATION_STATUS, ordering="status")
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()
