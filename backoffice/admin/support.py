"""Support in the admin: the SupportPal ticket mirror (read-only, refreshable) and portal announcements.

Staff see a service's tickets on the service page (TicketInline, added to ServiceAdmin below) and
a customer's on the customer 360 page (`core.support.queries.tickets_for_customer`, TicketInline).
"""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from unfold.contrib.filters.admin import AllValuesCheckboxFilter, AutocompleteSelectFilter, RangeDateFilter
from unfold.decorators import action, display

from core.accounts.models import Customer
from core.support import services as support
from core.support.errors import SupportError
from core.support.models import Announcement, SupportTicket

from .base import ModelAdmin, ReadOnlyModelAdmin, ReadOnlyTabularInline


def refresh_tickets(request, customers) -> None:
    """Refresh the mirror for these customers now; tell staff what happened (help desk down included)."""
    done = 0
    for customer in customers:
        try:
            done += support.refresh_customer_mirror(customer)
        except SupportError as exc:
            messages.error(request, f"{customer.display_name}: {exc}")
            return
    messages.success(request, f"{done} ticket(s) refreshed from the help desk.")


@admin.register(SupportTicket)
class SupportTicketAdmin(ReadOnlyModelAdmin):
    """A mirror of SupportPal refreshed by a task (every 15 minutes) and on demand; replies happen in SupportPal."""

    list_display = ("ticket_cell", "customer_cell", "service", "status_badge", "department", "last_reply_cell",
                    "help_desk_link")  # fmt: skip
    list_select_related = ("customer__user", "service")
    list_filter = (("status", AllValuesCheckboxFilter), ("customer", AutocompleteSelectFilter),
                   ("updated_at", RangeDateFilter))  # fmt: skip
    list_filter_submit = True
    search_fields = ("number", "external_id", "subject", "customer__company", "customer__user__email")
    actions = ["bulk_refresh"]
    actions_list = ["refresh_all"]
    exclude = ("raw",)
    readonly_fields = ("whmcs_archive",)

    def get_urls(self):
        from django.urls import path

        own = [path("<int:pk>/attachment/", self.admin_site.admin_view(self.attachment_view),
                    name="support_supportticket_attachment")]  # fmt: skip
        return own + super().get_urls()

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "whmcs_archive"]
        return [*fields, "whmcs_archive"] if obj is not None and support.is_imported_archive(obj) else fields

    @display(description="WHMCS archive")
    def whmcs_archive(self, obj):
        from django.template.loader import render_to_string
        from django.utils.http import urlencode

        url = reverse("admin:support_supportticket_attachment", args=[obj.pk])
        entries = support.archive_entries(obj)
        for entry in entries:
            for file in entry["attachments"]:
                file["url"] = f"{url}?{urlencode({'file': file['stored']})}" if file.get("stored") else ""
        guest = (obj.raw or {}).get("guest")
        return render_to_string("admin/support/whmcs_archive.html", {"entries": entries, "guest": guest})

    def attachment_view(self, request, pk):
        """Download a copied WHMCS attachment of this ticket (only files the ticket's archive names)."""
        from django.core.files.storage import default_storage
        from django.http import FileResponse, Http404
        from django.shortcuts import get_object_or_404

        ticket = get_object_or_404(SupportTicket, pk=pk)
        if not self.has_view_permission(request, ticket):
            raise Http404
        wanted = request.GET.get("file", "")
        stored = {f["stored"]: f["name"] for e in support.archive_entries(ticket) for f in e["attachments"]
                  if f.get("stored")}  # fmt: skip
        if wanted not in stored or not default_storage.exists(wanted):
            raise Http404("No such attachment on this ticket.")
        return FileResponse(default_storage.open(wanted, "rb"), as_attachment=True, filename=stored[wanted])

    def has_refresh_permission(self, request, obj=None):
        return request.user.has_perm("support.view_supportticket")

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

    @display(description="Last reply", header=True, ordering="last_reply_at")
    def last_reply_cell(self, obj):
        if obj.last_reply_at is None:
            return ["—", ""]
        return [f"{obj.last_reply_at:%Y-%m-%d %H:%M}", "staff" if obj.last_reply_by_staff else "customer"]

    @display(description="Help desk")
    def help_desk_link(self, obj):
        from django.utils.html import format_html

        url = (obj.raw or {}).get("operator_url")
        return format_html('<a href="{}" target="_blank" rel="noopener">Open</a>', url) if url else "—"

    @action(description="Refresh selected customers' tickets from the help desk", permissions=["refresh"])
    def bulk_refresh(self, request, queryset):
        ids = set(queryset.exclude(customer=None).values_list("customer_id", flat=True))
        refresh_tickets(request, Customer.objects.filter(pk__in=ids).select_related("user"))

    @action(description="Refresh all from the help desk", url_path="refresh-all", permissions=["refresh"],
            icon="sync")  # fmt: skip
    def refresh_all(self, request):
        try:
            result = support.refresh_all_mirrors()
        except SupportError as exc:
            messages.error(request, str(exc))
        else:
            if result["stopped"]:
                messages.error(request, "The help desk stopped answering; the mirror is partly refreshed.")
            else:
                messages.success(request, f"Tickets of {result['refreshed']} customer(s) refreshed.")
        return HttpResponseRedirect(reverse("admin:support_supportticket_changelist"))


class TicketInline(ReadOnlyTabularInline):
    """Tickets on a service or customer page (from the mirror)."""

    model = SupportTicket
    fields = ("number", "subject", "status", "department", "last_reply_at", "last_reply_by_staff")
    readonly_fields = fields
    ordering = ("-updated_at",)
    verbose_name = "support ticket"
    verbose_name_plural = "Support tickets"


class ServiceTicketInline(TicketInline):
    fk_name = "service"


def _add_ticket_inline_to_services() -> None:
    """Each service page lists its tickets (the service admin lives in provisioning.py)."""
    from core.provisioning.models import Service

    service_admin = admin.site._registry.get(Service)
    if service_admin is not None and ServiceTicketInline not in service_admin.inlines:
        type(service_admin).inlines = (*service_admin.inlines, ServiceTicketInline)


_add_ticket_inline_to_services()


@admin.register(Announcement)
class AnnouncementAdmin(ModelAdmin):
    list_display = ("title", "published_badge", "published_at", "created_at")
    list_filter = ("is_published",)
    search_fields = ("title", "body")

    @display(description="Published", label={"yes": "success", "no": "info"}, ordering="is_published")
    def published_badge(self, obj):
        return ("yes", "Published") if obj.is_published else ("no", "Draft")
