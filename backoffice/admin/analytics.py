"""Analytics in the admin: the customers behind each MRR movement figure, and finance export jobs.

The staff pages of issue 10 hang off ExportJobAdmin.get_urls (like the billing-run preview hangs off
the invoice admin): the dunning what-if (backoffice.whatif_views) and the export form and
downloads (backoffice.exports).
"""

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from core.analytics.models import CustomerMRR, ExportJob, Movement

from .base import ReadOnlyModelAdmin

MOVEMENT_COLOURS = {"new": "success", "reactivated": "success", "expansion": "info", "contraction": "warning",
                    "churned": "danger"}  # fmt: skip
EXPORT_STATUS = {"queued": "info", "running": "info", "done": "success", "failed": "danger"}


@admin.register(CustomerMRR)
class CustomerMRRAdmin(ReadOnlyModelAdmin):
    """Read-only: one row per customer, currency and month from the MRR snapshot task."""

    list_display = ("customer_cell", "month_cell", "movement_badge", "previous_cell", "mrr_cell", "change_cell")
    list_select_related = ("customer__user",)
    list_filter = (("movement", ChoicesDropdownFilter), "currency", "month")
    list_filter_submit = True
    search_fields = ("customer__company", "customer__user__email")
    show_full_result_count = False
    ordering = ("-month", "customer_id")

    @display(description="Customer", header=True, ordering="customer__company")
    def customer_cell(self, obj):
        url = reverse("admin:accounts_customer_change", args=[obj.customer_id])
        return [format_html('<a href="{}">{}</a>', url, obj.customer.display_name), obj.customer.user.email]

    @display(description="Month", ordering="month")
    def month_cell(self, obj):
        return f"{obj.month:%b %Y}"

    @display(description="Movement", label=MOVEMENT_COLOURS)
    def movement_badge(self, obj):
        return obj.movement, Movement(obj.movement).label

    @display(description="MRR the month before")
    def previous_cell(self, obj):
        return f"{obj.currency} {obj.previous_mrr:,.2f}"

    @display(description="MRR")
    def mrr_cell(self, obj):
        return f"{obj.currency} {obj.mrr:,.2f}"

    @display(description="Change")
    def change_cell(self, obj):
        return f"{obj.currency} {obj.change:+,.2f}"

    def get_urls(self):
        from backoffice.dashboard import refresh_snapshots_view

        wrap = self.admin_site.admin_view
        return [
            path("refresh-snapshots/", wrap(refresh_snapshots_view), name="analytics_refresh_snapshots"),
        ] + super().get_urls()


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyModelAdmin):
    list_display = ("export_cell", "status_badge", "progress_cell", "download_cell", "requested_by", "created_at")
    list_select_related = ("requested_by",)
    list_filter = (("status", ChoicesDropdownFilter),)

    @display(description="Export", header=True)
    def export_cell(self, obj):
        return [f"{obj.kind.replace('_', ' ').capitalize()} ({obj.file_format.upper()})",
                f"{obj.date_from} to {obj.date_to}"]  # fmt: skip

    @display(description="Status", label=EXPORT_STATUS)
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Progress")
    def progress_cell(self, obj):
        return f"{obj.progress_percent}% ({obj.rows_done} of {obj.rows_total} rows)"

    @display(description="File")
    def download_cell(self, obj):
        if obj.status != ExportJob.Status.DONE or not obj.file:
            return obj.error[:80] if obj.error else "—"
        return format_html('<a href="{}">Download</a>', reverse("admin:analytics_exportjob_download", args=[obj.pk]))

    def get_urls(self):
        from backoffice import exports, whatif_views

        wrap = self.admin_site.admin_view
        return [
            path("new/", wrap(exports.ExportCreateView.as_view(model_admin=self)), name="analytics_exportjob_new"),
            path("<int:pk>/download/", wrap(exports.download_export), name="analytics_exportjob_download"),
            path("dunning-what-if/", wrap(whatif_views.DunningWhatIfView.as_view(model_admin=self)),
                 name="analytics_dunning_whatif"),
        ] + super().get_urls()  # fmt: skip
