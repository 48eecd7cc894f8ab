"""Bandwidth metering in the admin (read-only: rows come from the ElastiFlow collector)."""

from django.contrib import admin
from django.template.defaultfilters import filesizeformat
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.decorators import display

from core.usage.models import BandwidthPeriod, BandwidthUsage

from .base import ReadOnlyModelAdmin, money


class ServiceColumnMixin:
    @display(description="Service", header=True)
    def service_cell(self, obj):
        service = obj.service
        return [service.label or service.hostname or f"Service {service.pk}", service.customer.display_name]


@admin.register(BandwidthUsage)
class BandwidthUsageAdmin(ServiceColumnMixin, ReadOnlyModelAdmin):
    list_display = ("service_cell", "day", "in_cell", "out_cell", "total_cell")
    list_select_related = ("service__customer__user",)
    list_filter = (("day", RangeDateFilter),)
    list_filter_submit = True
    search_fields = ("service__hostname", "service__primary_ip", "service__customer__company")
    date_hierarchy = "day"

    @display(description="In", ordering="bytes_in")
    def in_cell(self, obj):
        return filesizeformat(obj.bytes_in)

    @display(description="Out", ordering="bytes_out")
    def out_cell(self, obj):
        return filesizeformat(obj.bytes_out)

    @display(description="Total")
    def total_cell(self, obj):
        return filesizeformat(obj.total_bytes)


@admin.register(BandwidthPeriod)
class BandwidthPeriodAdmin(ServiceColumnMixin, ReadOnlyModelAdmin):
    list_display = ("service_cell", "period_start", "period_end", "usage_cell", "state_badge", "overage_cell")
    list_select_related = ("service__customer__user", "service__customer__currency", "overage_invoice")
    list_filter = (("period_start", RangeDateFilter), "closed_at")
    list_filter_submit = True
    search_fields = ("service__hostname", "service__primary_ip", "service__customer__company")

    @display(description="Used", header=True)
    def usage_cell(self, obj):
        quota = filesizeformat(obj.quota_bytes) if obj.quota_bytes else "unmetered"
        share = f"{obj.total_bytes * 100 // obj.quota_bytes}% of quota" if obj.quota_bytes else ""
        return [f"{filesizeformat(obj.total_bytes)} / {quota}", share]

    @display(description="State", label={"open": "info", "closed": "success", "billed": "success", "over": "warning"})
    def state_badge(self, obj):
        if obj.overage_billed_at:
            return "billed", "Overage billed"
        if obj.closed_at and obj.overage_amount:
            return "over", "Overage to bill"
        return ("closed", "Closed") if obj.closed_at else ("open", "Open")

    @display(description="Overage")
    def overage_cell(self, obj):
        if not obj.overage_amount:
            return "—"
        return money(obj.overage_amount, obj.service.customer.currency)
