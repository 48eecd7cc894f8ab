"""Invoices in the admin: drafts editable, issued invoices read-only with state-dependent actions."""

from decimal import Decimal

from django.contrib import admin
from import_export.admin import ExportMixin
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateFilter,
    RangeNumericFilter,
    RelatedDropdownFilter,
)
from unfold.contrib.import_export.forms import ExportForm
from unfold.decorators import action, display

from backoffice import billing_views as billing_actions  # billing action bodies and forms
from core.billing.models import (
    Invoice,
    InvoiceLine,
)
from core.billing.services.pdf import format_rate, plain_number

from ...resources import FORMATS, InvoiceResource
from ..base import (
    INVOICE_STATUS,
    ModelAdmin,
    TabularInline,
    money,
)
from ..cells import badge, header
from ..scale import LargeTableAdminMixin
from .columns import CustomerColumnMixin


class InvoiceLineInline(TabularInline):
    """Editable while the invoice is a draft; read-only from issue on (the model refuses changes too)."""

    model = InvoiceLine
    extra = 0
    fields = ("position", "kind", "description", "quantity", "unit_amount", "amount", "tax_rate", "tax_amount",
              "tax_name", "product", "subscription", "service", "period_start", "period_end")  # fmt: skip
    autocomplete_fields = ("product", "subscription", "service")
    ordering_field = None

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("product", "subscription__price__product", "service", "invoice__currency")
        )

    # An issued invoice's lines are read-only: show them as on the invoice (USD 3.75, 20%), not as
    # the stored decimals (3.7500, 20.000).
    frozen_fields = ("position", "kind", "description", "quantity_cell", "unit_amount_cell", "amount_cell",
                     "tax_rate_cell", "tax_amount_cell", "tax_name", "product", "subscription", "service",
                     "period_start", "period_end")  # fmt: skip

    def get_fields(self, request, obj=None):
        return self.frozen_fields if obj is not None and obj.is_frozen else self.fields

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_frozen:
            return self.frozen_fields
        return ()

    @display(description="Quantity")
    def quantity_cell(self, line):
        return plain_number(line.quantity)

    @display(description="Unit amount")
    def unit_amount_cell(self, line):
        return money(line.unit_amount, line.invoice.currency)

    @display(description="Amount")
    def amount_cell(self, line):
        return money(line.amount, line.invoice.currency)

    @display(description="Tax rate")
    def tax_rate_cell(self, line):
        return f"{format_rate(line.tax_rate)}%"

    @display(description="Tax amount")
    def tax_amount_cell(self, line):
        return money(line.tax_amount, line.invoice.currency)

    def has_add_permission(self, request, obj=None):
        return (obj is None or not obj.is_frozen) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return (obj is None or not obj.is_frozen) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return (obj is None or not obj.is_frozen) and super().has_delete_permission(request, obj)


def tax_breakdown_table(invoice: Invoice) -> str:
    """The invoice's frozen tax breakdown as a small Unfold table: rate name, rate, taxable amount, tax."""
    from django.template.loader import render_to_string
    from django.utils.html import format_html

    from core.billing.services.pdf import format_rate

    rows = invoice.tax_breakdown or []
    if not rows:
        if invoice.reverse_charge:
            return "No tax charged: reverse charge."
        return "No tax charged." if invoice.is_frozen else "Calculated when the invoice is issued."
    right = "text-right whitespace-nowrap"
    table = {
        "headers": ["Rate name", {"content": "Rate", "class": right}, {"content": "Taxable amount", "class": right},
                    {"content": "Tax", "class": right}],
        "rows": [
            [row.get("name") or "Tax", {"content": f"{format_rate(row['rate'])}%", "class": right},
             {"content": money(Decimal(row["base"]), invoice.currency), "class": right},
             {"content": money(Decimal(row["tax"]), invoice.currency), "class": right}]
            for row in rows
        ],
    }  # fmt: skip
    return format_html(
        '<div class="max-w-2xl">{}</div>', render_to_string("unfold/components/table.html", {"table": table})
    )


def invoice_actions_for(invoice: Invoice) -> set[str]:
    """Names of the detail actions that apply to an invoice in its current state."""
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        return {"download_pdf_action", "resend_invoice_action"} if invoice.is_frozen else {"download_pdf_action"}
    if invoice.status == Invoice.Status.DRAFT:
        return {"issue_invoice_action", "download_pdf_action"}
    if invoice.status == Invoice.Status.VOID:
        return {"download_pdf_action"}
    wanted = {"download_pdf_action", "resend_invoice_action", "credit_note_action", "void_invoice_action"}
    if invoice.status == Invoice.Status.ISSUED:
        wanted |= {"record_payment_action", "apply_credit_action", "charge_now_action"}
    if invoice.amount_paid > invoice.amount_refunded:
        wanted.add("refund_invoice_action")
    return wanted


@admin.register(Invoice)
class InvoiceAdmin(LargeTableAdminMixin, CustomerColumnMixin, SimpleHistoryAdmin, ExportMixin, ModelAdmin):
    resource_classes = [InvoiceResource]
    formats = FORMATS
    export_form_class = ExportForm
    list_display = ("invoice_cell", "customer_cell", "status_badge", "total_cell", "due_cell", "issue_date",
                    "due_date")  # fmt: skip
    list_select_related = ("customer__user", "currency")
    list_defer = ("billing_details", "seller_details", "tax_breakdown", "notes")
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("kind", ChoicesDropdownFilter),
        ("purpose", ChoicesDropdownFilter),
        ("currency", RelatedDropdownFilter),
        ("total", RangeNumericFilter),
        ("issue_date", RangeDateFilter),
        ("due_date", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("number", "uuid", "customer__company", "customer__user__email", "customer__user__last_name")
    autocomplete_fields = ("customer", "subscription", "original_invoice")
    # No date_hierarchy: its year links read every row (SELECT DISTINCT year); the date range filters stay.
    inlines = (InvoiceLineInline,)
    # Editable only on drafts: everything else is written by the billing services at issue.
    draft_editable_fields = ("customer", "currency", "purpose", "subscription", "original_invoice", "due_date",
                             "notes")  # fmt: skip
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "uuid",
                    "kind",
                    "purpose",
                    "status",
                    "customer",
                    "currency",
                    "subscription",
                    "original_invoice",
                    "renewal_period_start",
                )
            },
        ),  # fmt: skip
        ("Dates", {"fields": ("issue_date", "due_date", "issued_at", "paid_at", "voided_at", "void_reason")}),
        (
            "Totals",
            {
                "fields": (
                    "subtotal_cell",
                    "discount_total_cell",
                    "tax_total_cell",
                    "total_cell",
                    "tax_breakdown_table",
                    "reverse_charge",
                    "tax_note",
                )
            },
        ),  # fmt: skip
        (
            "Payment state",
            {
                "fields": (
                    "amount_paid_cell",
                    "credit_applied_cell",
                    "amount_refunded_cell",
                    "amount_due_cell",
                    "charge_attempts",
                    "next_charge_attempt_at",
                    "last_charge_error",
                )
            },
        ),  # fmt: skip
        (
            "Snapshot",
            {
                "classes": ["collapse"],
                "fields": ("billing_details", "seller_details", "snapshot_hash", "series", "pdf", "emailed_at"),
            },
        ),  # fmt: skip
        ("Notes", {"fields": ("notes",)}),
    )
    actions = []
    actions_list = ["billing_run_preview"]
    # The frequent actions stay on the bar, the rest sit under "More"; get_actions_detail keeps
    # only those that make sense for the invoice's state (nine buttons pushed the title off-screen).
    actions_detail = ["issue_invoice_action", "record_payment_action", "download_pdf_action",
                      {"title": "More", "icon": "more_horiz",
                       "items": ["apply_credit_action", "charge_now_action", "resend_invoice_action",
                                 "refund_invoice_action", "credit_note_action", "void_invoice_action"]}]  # fmt: skip
    actions_row = ["download_pdf_action"]

    def get_actions_detail(self, request, object_id):
        actions = super().get_actions_detail(request, object_id)
        invoice = Invoice.objects.filter(pk=object_id).first()
        if invoice is None:
            return actions
        wanted = invoice_actions_for(invoice)
        prefix = f"{Invoice._meta.app_label}_{Invoice._meta.model_name}_"
        return [a for a in actions if a.action_name.removeprefix(prefix) in wanted]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.is_frozen:
            # Issued invoices are read-only: offer the actions, not save buttons that save nothing.
            context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_readonly_fields(self, request, obj=None):
        every = [f for fs in self.fieldsets for f in fs[1]["fields"]]
        if obj is not None and obj.is_frozen:
            return every
        return [f for f in every if f not in self.draft_editable_fields]

    def get_actions(self, request):
        actions = super().get_actions(request)
        # A queryset delete skips Invoice.delete(); issued invoices are voided, never deleted.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        return obj is not None and obj.is_draft and super().has_delete_permission(request, obj)

    # Billing actions: each calls one core.billing service (bodies in backoffice/billing_views.py).
    def get_urls(self):
        from django.urls import path

        view = self.admin_site.admin_view(billing_actions.BillingRunPreviewView.as_view(model_admin=self))
        return [path("billing-run/", view, name="billing_invoice_billing_run")] + super().get_urls()

    @action(description="Billing run preview", url_path="billing-run-preview", icon="preview")
    def billing_run_preview(self, request):
        from django.shortcuts import redirect

        return redirect("admin:billing_invoice_billing_run")

    @action(description="Issue", url_path="issue", permissions=["change"], icon="send",
            dialog={"title": "Issue this invoice?", "description": "It gets a number and can no longer be edited.",
                    "form_submit_text": "Issue"})  # fmt: skip
    def issue_invoice_action(self, request, form, object_id):
        return billing_actions.issue_invoice_action(request, object_id)

    @action(description="Record bank transfer", url_path="record-payment", permissions=["change"], icon="payments",
            dialog={"title": "Record a bank transfer", "form_submit_text": "Record",
                    "form_class": billing_actions.ManualPaymentForm})  # fmt: skip
    def record_payment_action(self, request, form, object_id):
        return billing_actions.record_payment_action(request, form, object_id)

    @action(description="Apply credit", url_path="apply-credit", permissions=["change"], icon="savings",
            dialog={"title": "Apply the customer's credit", "form_submit_text": "Apply",
                    "form_class": billing_actions.ApplyCreditForm})  # fmt: skip
    def apply_credit_action(self, request, form, object_id):
        return billing_actions.apply_credit_action(request, form, object_id)

    @action(description="Charge now", url_path="charge", permissions=["change"], icon="credit_card",
            dialog={"title": "Charge the saved payment method now?", "form_submit_text": "Charge"})  # fmt: skip
    def charge_now_action(self, request, form, object_id):
        return billing_actions.charge_now_action(request, object_id)

    @action(description="Download PDF", url_path="pdf", permissions=["view"], icon="picture_as_pdf")
    def download_pdf_action(self, request, object_id):
        return billing_actions.download_pdf_action(request, object_id)

    @action(description="Resend email", url_path="resend", permissions=["change"], icon="forward_to_inbox",
            dialog={"title": "Email this invoice to the customer again?", "form_submit_text": "Send"})  # fmt: skip
    def resend_invoice_action(self, request, form, object_id):
        return billing_actions.resend_invoice_action(request, object_id)

    @action(description="Refund", url_path="refund", permissions=["change"], icon="undo",
            dialog={"title": "Refund (latest payment)", "form_submit_text": "Refund",
                    "form_class": billing_actions.InvoiceRefundForm})  # fmt: skip
    def refund_invoice_action(self, request, form, object_id):
        return billing_actions.refund_invoice_action(request, form, object_id)

    @action(description="Credit note", url_path="credit-note", permissions=["change"], icon="receipt",
            dialog={"title": "Issue a credit note", "form_submit_text": "Issue credit note",
                    "form_class": billing_actions.CreditNoteForm})  # fmt: skip
    def credit_note_action(self, request, form, object_id):
        return billing_actions.credit_note_action(request, form, object_id)

    @action(description="Void", url_path="void", permissions=["change"], icon="block",
            dialog={"title": "Void this invoice?", "description": "The number stays used; money received becomes credit.",
                    "form_submit_text": "Void", "form_class": billing_actions.ReasonForm})  # fmt: skip
    def void_invoice_action(self, request, form, object_id):
        return billing_actions.void_invoice_action(request, form, object_id)

    @display(description="Invoice", ordering="number")
    def invoice_cell(self, obj):
        title = obj.number or f"Draft {obj.pk}"
        return header(title, f"{obj.get_kind_display()} · {obj.get_purpose_display()}")

    @display(description="Status", ordering="status")
    def status_badge(self, obj):
        if obj.is_overdue:
            return badge("overdue", "Overdue", INVOICE_STATUS)
        return badge(obj.status, obj.get_status_display(), INVOICE_STATUS)

    @display(description="Total", ordering="total")
    def total_cell(self, obj):
        return money(obj.total, obj.currency)

    @display(description="Due")
    def due_cell(self, obj):
        if obj.status in (Invoice.Status.DRAFT, Invoice.Status.VOID):
            return "—"
        return money(obj.amount_due, obj.currency)

    @display(description="Amount due")
    def amount_due_cell(self, obj):
        return money(obj.amount_due, obj.currency)

    # The stored totals, each with its currency (the bare fields read "12.50" with no currency).
    @display(description="Subtotal")
    def subtotal_cell(self, obj):
        return money(obj.subtotal, obj.currency)

    @display(description="Discounts")
    def discount_total_cell(self, obj):
        return money(obj.discount_total, obj.currency)

    @display(description="Tax")
    def tax_total_cell(self, obj):
        return money(obj.tax_total, obj.currency)

    @display(description="Amount paid")
    def amount_paid_cell(self, obj):
        return money(obj.amount_paid, obj.currency)

    @display(description="Credit applied")
    def credit_applied_cell(self, obj):
        return money(obj.credit_applied, obj.currency)

    @display(description="Amount refunded")
    def amount_refunded_cell(self, obj):
        return money(obj.amount_refunded, obj.currency)

    @display(description="Tax breakdown")
    def tax_breakdown_table(self, obj):
        return tax_breakdown_table(obj)
