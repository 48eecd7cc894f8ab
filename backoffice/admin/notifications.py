"""Notifications in the admin: the outbox (every email and Discord alert, resendable), the
editable email templates (history, sample preview, refused on save when broken), suppressed
addresses and customers' mail preferences.

For the customer 360 page: `outbox_for_customer(customer)` and `OutboxInline`.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.filters.admin import AutocompleteSelectFilter, ChoicesDropdownFilter, RangeDateFilter
from unfold.decorators import action, display

from core.notifications import catalogue, templating
from core.notifications.bounces import lift_suppression
from core.notifications.errors import NotificationError
from core.notifications.models import EmailSuppression, EmailTemplate, Notification, NotificationPreference
from core.notifications.services import resend

from .base import ModelAdmin, ReadOnlyModelAdmin, ReadOnlyTabularInline

OUTBOX_STATUS = {
    "queued": "info",
    "sending": "info",
    "retrying": "warning",
    "sent": "success",
    "failed": "danger",
    "skipped": "warning",
}


def outbox_for_customer(customer, limit: int | None = 50) -> QuerySet:
    """The customer's outbox, newest first (for the customer 360 page)."""
    qs = Notification.objects.filter(customer=customer).order_by("-created_at")
    return qs[:limit] if limit else qs


def _resend_all(request, rows) -> None:
    done = 0
    for row in rows:
        try:
            resend(row, actor=request.user)
            done += 1
        except NotificationError as exc:
            messages.error(request, f"{row.event} to {row.recipient}: {exc}")
    if done:
        messages.success(request, f"{done} message(s) queued again.")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyModelAdmin):
    list_display = ("event_cell", "channel", "recipient", "customer_link", "status_badge", "attempts",
                    "created_at", "sent_at")  # fmt: skip
    list_select_related = ("customer", "customer__user")
    list_filter = (("channel", ChoicesDropdownFilter), ("status", ChoicesDropdownFilter),
                   ("customer", AutocompleteSelectFilter), ("created_at", RangeDateFilter))  # fmt: skip
    list_filter_submit = True
    search_fields = ("event", "recipient", "subject", "dedupe_key", "provider_message_id")
    date_hierarchy = "created_at"
    actions = ["bulk_resend"]
    actions_detail = ["detail_resend"]
    exclude = ("text_body", "html_body", "claimed_at")
    readonly_fields = ("message_preview",)

    def has_resend_permission(self, request, obj=None):
        return request.user.has_perm("notifications.change_notification")

    @display(description="Notification", header=True, ordering="event")
    def event_cell(self, obj):
        return [obj.subject or obj.event, obj.event]

    @display(description="Status", label=OUTBOX_STATUS, ordering="status")
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Customer")
    def customer_link(self, obj):
        if obj.customer_id is None:
            return "—"
        url = reverse("admin:accounts_customer_change", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, obj.customer.display_name)

    @display(description="Message")
    def message_preview(self, obj):
        spec = catalogue.event_for_template(obj.template)
        if spec is not None and not spec.resendable:
            return "Hidden: this message carried credentials."
        if obj.channel == Notification.Channel.DISCORD or not obj.html_body:
            return format_html('<pre style="white-space:pre-wrap">{}</pre>', obj.text_body or "—")
        return format_html(
            '<iframe sandbox="" srcdoc="{}" style="width:100%;height:480px;border:1px solid #e5e7eb;'
            'border-radius:6px;background:#fff"></iframe>',
            obj.html_body,
        )

    @action(description="Resend selected messages", permissions=["resend"])
    def bulk_resend(self, request, queryset):
        _resend_all(request, queryset)

    @action(description="Resend", url_path="resend", permissions=["resend"], icon="forward_to_inbox")
    def detail_resend(self, request, object_id):
        _resend_all(request, Notification.objects.filter(pk=object_id))
        return HttpResponseRedirect(reverse("admin:notifications_notification_change", args=[object_id]))


class OutboxInline(ReadOnlyTabularInline):
    """The customer's messages (add to the customer admin / 360 page)."""

    model = Notification
    fk_name = "customer"
    fields = ("event", "subject", "recipient", "status", "attempts", "created_at", "sent_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    verbose_name = "message"
    verbose_name_plural = "Outbox"


@admin.register(EmailTemplate)
class EmailTemplateAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = ("key_cell", "subject", "essential_badge", "is_active", "updated_at")
    search_fields = ("key", "subject")
    list_filter = ("is_active",)
    readonly_fields = ("catalogue_entry", "variables_doc", "preview")
    fieldsets = (
        (None, {"fields": ("key", "catalogue_entry", "is_active", "subject")}),
        ("Bodies", {"fields": ("text_body", "html_body"), "description": "Django template syntax. Bodies may "
                    "extend emails/base.txt and emails/base.html."}),
        ("Variables", {"fields": ("variables_doc",)}),
        ("Preview with sample data", {"fields": ("preview",)}),
    )  # fmt: skip

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "key"] if obj else fields

    def changelist_view(self, request, extra_context=None):
        # Seed on first use: every catalogue template appears here, copied from its file.
        templating.ensure_templates()
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: the file template takes over

    @display(description="Template", header=True, ordering="key")
    def key_cell(self, obj):
        event = catalogue.event_for_template(obj.key)
        return [event.title if event else obj.key, obj.key]

    @display(description="Essential", label={"always": "success", "optional": "info"})
    def essential_badge(self, obj):
        event = catalogue.event_for_template(obj.key)
        if event is None or event.essential:
            return "always", "Always sent"
        return "optional", f"Optional: {catalogue.CATEGORIES.get(event.category, event.category)}"

    @display(description="Catalogue")
    def catalogue_entry(self, obj):
        events = [e for e in catalogue.EVENTS.values() if e.template_key == obj.key]
        if not events:
            return "Not in the catalogue"
        return format_html_join(
            "", "<div><strong>{}</strong> ({}){}</div>",
            ((e.title, "always sent" if e.essential else f"customers may switch off: {e.category}",
              f" · attachment: {e.attachment}" if e.attachment else "") for e in events),
        )  # fmt: skip

    @display(description="Variables")
    def variables_doc(self, obj):
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "", "<tr><td><code>{{{{ {} }}}}</code></td><td style='padding-left:12px'>{}</td></tr>",
                sorted(catalogue.documented_variables(obj.key).items()),
            ),
        )  # fmt: skip

    @display(description="Preview")
    def preview(self, obj):
        if not obj.pk:
            return "Save to see a preview."
        try:
            out = templating.preview(obj.key, obj.subject, obj.text_body, obj.html_body)
        except Exception as exc:
            return format_html('<span style="color:#b91c1c">{}</span>', f"Does not render: {exc}")
        return format_html(
            '<p><strong>Subject:</strong> {}</p><iframe sandbox="" srcdoc="{}" style="width:100%;height:520px;'
            'border:1px solid #e5e7eb;border-radius:6px;background:#fff"></iframe>'
            '<pre style="white-space:pre-wrap;margin-top:12px">{}</pre>',
            out.subject, out.html, out.text,
        )  # fmt: skip


@admin.register(EmailSuppression)
class EmailSuppressionAdmin(ReadOnlyModelAdmin):
    list_display = ("address", "reason_badge", "esp", "created_at", "lifted_at")
    list_filter = (("reason", ChoicesDropdownFilter), ("created_at", RangeDateFilter))
    list_filter_submit = True
    search_fields = ("address", "detail")
    actions = ["bulk_lift"]

    def has_lift_permission(self, request, obj=None):
        return request.user.has_perm("notifications.change_emailsuppression")

    @display(description="Reason", label={"bounced": "danger", "complained": "danger", "rejected": "warning",
                                          "unsubscribed": "info"}, ordering="reason")  # fmt: skip
    def reason_badge(self, obj):
        return obj.reason, obj.get_reason_display()

    @action(description="Lift selected suppressions (address fixed)", permissions=["lift"])
    def bulk_lift(self, request, queryset):
        count = 0
        for suppression in queryset.filter(lifted_at__isnull=True):
            lift_suppression(suppression, actor=request.user)
            count += 1
        messages.success(request, f"{count} address(es) will receive all mail again.")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyModelAdmin):
    list_display = ("customer", "switched_off", "updated_at")
    list_select_related = ("customer", "customer__user")
    search_fields = ("customer__company", "customer__user__email")

    @display(description="Switched off")
    def switched_off(self, obj):
        return ", ".join(catalogue.CATEGORIES.get(c, c) for c in obj.opted_out) or "—"
