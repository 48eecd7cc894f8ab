"""Billing in the admin: orders, subscriptions, invoices, payments, credit, coupons, tax.

State changes (issue, void, record payment, refund, apply credit, cancel...) are Unfold
actions that call core.billing.services; they are appended to the `actions*` lists of
the classes below. Forms here only edit what has no business rule attached.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.db.models import Count
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
    Coupon,
    CouponAmount,
    CouponRedemption,
    CreditEntry,
    GatewayCustomer,
    Invoice,
    InvoiceLine,
    NumberSequence,
    Order,
    OrderItem,
    Payment,
    PaymentMethod,
    Subscription,
    SuspensionPolicy,
    TaxRate,
    WebhookEvent,
)
from core.billing.services.pdf import format_rate, plain_number

from ..forms import DialogForm, finish_dialog
from ..resources import FORMATS, InvoiceResource, PaymentResource
from .base import (
    INVOICE_STATUS,
    ORDER_STATUS,
    PAYMENT_KIND,
    PAYMENT_STATUS,
    SUBSCRIPTION_STATUS,
    WEBHOOK_STATUS,
    ModelAdmin,
    ReadOnlyModelAdmin,
    TabularInline,
    money,
)
from .labels import column


class CustomerColumnMixin:
    """A two-line customer cell (name, email); the queryset must select customer__user."""

    @display(description="Customer", header=True, ordering="customer__company")
    def customer_cell(self, obj):
        return [obj.customer.display_name, obj.customer.user.email]


# --- Orders --------------------------------------------------------------------------


class OrderItemInline(TabularInline):
    model = OrderItem
    extra = 0
    fields = ("price", "quantity", "hostname", "subscription")
    readonly_fields = ("price", "quantity", "hostname", "subscription")
    can_delete = False
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("price__product", "price__currency", "subscription")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(CustomerColumnMixin, ModelAdmin):
    list_display = ("order_cell", "customer_cell", "status_badge", "items_count", "invoice_cell", "created_at")
    list_select_related = ("customer__user", "currency", "invoice", "coupon")
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("currency", RelatedDropdownFilter),
        ("created_at", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("uuid", "customer__company", "customer__user__email", "invoice__number", "items__hostname")
    autocomplete_fields = ("customer", "invoice", "coupon")
    readonly_fields = ("uuid", "customer", "currency", "status", "coupon", "invoice", "ip_address", "created_at",
                       "paid_at", "refusal_reason")  # fmt: skip
    fields = ("uuid", "customer", "status", "currency", "coupon", "invoice", "ip_address", "created_at", "paid_at",
              "refusal_reason", "notes")  # fmt: skip
    inlines = (OrderItemInline,)
    date_hierarchy = "created_at"
    # Domain actions (cancel, refuse, fulfil...) are appended by the billing engineer.
    actions = []
    actions_list = []
    actions_detail = []
    actions_row = []

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(item_count=Count("items"))

    def has_add_permission(self, request):
        # Orders are placed through core.billing.services.orders.place_order (portal, API, staff action).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="Order", header=True, ordering="created_at")
    def order_cell(self, obj):
        return [f"Order {obj.pk}", obj.currency_id]

    @display(description="Status", label=ORDER_STATUS, ordering="status")
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Items", ordering="item_count")
    def items_count(self, obj):
        return obj.item_count

    @display(description="Invoice")
    def invoice_cell(self, obj):
        return str(obj.invoice) if obj.invoice_id else "—"


# --- Subscriptions -------------------------------------------------------------------


@admin.register(Subscription)
class SubscriptionAdmin(CustomerColumnMixin, SimpleHistoryAdmin, ModelAdmin):
    list_display = ("subscription_cell", "customer_cell", "status_badge", "amount_cell", "current_period_end",
                    "cancel_at_period_end")  # fmt: skip
    list_select_related = ("customer__user", "price__product", "currency")
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("cycle", ChoicesDropdownFilter),
        ("currency", RelatedDropdownFilter),
        "cancel_at_period_end",
        ("amount", RangeNumericFilter),
        ("current_period_end", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("uuid", "customer__company", "customer__user__email", "price__product__name",
                     "gateway_subscription_id")  # fmt: skip
    autocomplete_fields = ("customer", "price", "payment_method", "coupon")
    # Status, amounts and periods move only through the subscription services (renewal, change_plan, cancel).
    readonly_fields = ("uuid", "customer", "price", "currency", "cycle", "amount", "status", "current_period_start",
                       "current_period_end", "trial_end", "cancel_at_period_end", "cancelled_at", "ended_at",
                       "cancel_reason", "cancel_comment", "gateway", "gateway_subscription_id", "coupon",
                       "created_at", "updated_at")  # fmt: skip
    fieldsets = (
        (None, {"fields": ("uuid", "customer", "price", "currency", "cycle", "amount", "status")}),
        ("Period", {"fields": ("current_period_start", "current_period_end", "trial_end")}),
        (
            "Payment",
            {"fields": ("payment_method", "gateway", "gateway_subscription_id", "coupon", "coupon_cycles_remaining")},
        ),  # fmt: skip
        (
            "Cancellation",
            {"fields": ("cancel_at_period_end", "cancelled_at", "ended_at", "cancel_reason", "cancel_comment")},
        ),  # fmt: skip
        ("Record", {"fields": ("created_at", "updated_at")}),
    )
    actions = []
    actions_list = []
    actions_detail = ["cancel_subscription_action"]
    actions_row = []

    def has_add_permission(self, request):
        # Subscriptions are created by fulfilling an order (core.billing.services.orders.fulfil_order).
        return False

    @action(description="Cancel", url_path="cancel", permissions=["change"], icon="cancel",
            dialog={"title": "Cancel this subscription", "form_submit_text": "Cancel subscription",
                    "description": "At period end by default; 'immediately' terminates the services now.",
                    "form_class": billing_actions.CancelSubscriptionForm})  # fmt: skip
    def cancel_subscription_action(self, request, form, object_id):
        return billing_actions.cancel_subscription_action(request, form, object_id)

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="Subscription", header=True, ordering="created_at")
    def subscription_cell(self, obj):
        return [obj.price.product.name, f"#{obj.pk} · {obj.get_cycle_display()}"]

    @display(description="Status", label=SUBSCRIPTION_STATUS, ordering="status")
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Amount", ordering="amount")
    def amount_cell(self, obj):
        return money(obj.amount, obj.currency)


# --- Invoices -------------------------------------------------------------------------


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
class InvoiceAdmin(CustomerColumnMixin, SimpleHistoryAdmin, ExportMixin, ModelAdmin):
    resource_classes = [InvoiceResource]
    formats = FORMATS
    export_form_class = ExportForm
    list_display = ("invoice_cell", "customer_cell", "status_badge", "total_cell", "due_cell", "issue_date",
                    "due_date")  # fmt: skip
    list_select_related = ("customer__user", "currency")
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
    date_hierarchy = "created_at"
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

    @display(description="Invoice", header=True, ordering="number")
    def invoice_cell(self, obj):
        title = obj.number or f"Draft {obj.pk}"
        return [title, f"{obj.get_kind_display()} · {obj.get_purpose_display()}"]

    @display(description="Status", label=INVOICE_STATUS, ordering="status")
    def status_badge(self, obj):
        if obj.is_overdue:
            return "overdue", "Overdue"
        return obj.status, obj.get_status_display()

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


# --- Payments and credit ----------------------------------------------------------------


class RefundForm(DialogForm):
    """Staff refund of a payment, full or partial (payments engineer)."""

    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    reason = forms.CharField(max_length=255, required=False)


@admin.register(Payment)
class PaymentAdmin(CustomerColumnMixin, ExportMixin, ModelAdmin):
    """Payments are recorded only through the billing services (gateway webhooks, manual payment action)."""

    resource_classes = [PaymentResource]
    formats = FORMATS
    export_form_class = ExportForm
    list_display = ("payment_cell", "customer_cell", "kind_badge", "status_badge", "amount_cell", "invoice_cell",
                    "received_at")  # fmt: skip
    list_select_related = ("customer__user", "currency", "invoice")
    list_filter = (
        ("kind", ChoicesDropdownFilter),
        ("status", ChoicesDropdownFilter),
        ("gateway", ChoicesDropdownFilter),
        ("currency", RelatedDropdownFilter),
        "is_disputed",
        ("amount", RangeNumericFilter),
        ("received_at", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("uuid", "gateway_transaction_id", "reference", "invoice__number", "customer__company",
                     "customer__user__email")  # fmt: skip
    autocomplete_fields = ("customer", "invoice", "payment_method", "original_payment")
    date_hierarchy = "received_at"
    readonly_fields = ("uuid", "customer", "invoice", "kind", "status", "gateway", "gateway_transaction_id", "amount",
                       "currency", "fee", "payment_method", "original_payment", "reference", "failure_code",
                       "failure_reason", "is_disputed", "received_at", "recorded_by", "raw", "created_at")  # fmt: skip
    actions = []
    actions_list = []
    actions_detail = ["refund_payment_action"]
    actions_row = []

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # A method, not a dotted permission name: Unfold's system check looks dotted names up in
    # auth_permission, which breaks `migrate` on a fresh database (the table does not exist yet).
    def has_refund_permission(self, request, obj=None):
        return request.user.has_perm("billing.change_invoice")

    @action(
        description="Refund",
        url_path="refund",
        permissions=["refund"],
        dialog={"title": "Refund this payment", "description": "Money goes back through the payment's gateway.",
                "form_class": RefundForm, "form_submit_text": "Refund"},
    )  # fmt: skip
    def refund_payment_action(self, request, form, object_id):
        from django.contrib import messages
        from django.urls import reverse

        from core.billing.errors import BillingError
        from core.billing.gateways import GatewayError
        from core.billing.services.payments import refund_payment

        payment = Payment.objects.get(pk=object_id)
        try:
            refund = refund_payment(
                payment, amount=form.cleaned_data["amount"], reason=form.cleaned_data["reason"], actor=request.user
            )
        except (BillingError, GatewayError) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"Refunded {refund.currency_id} {refund.amount} ({refund.gateway_transaction_id})."
            )
        return finish_dialog(request, reverse("admin:billing_payment_change", args=[object_id]))

    @display(description="Payment", header=True, ordering="received_at")
    def payment_cell(self, obj):
        return [obj.get_gateway_display(), obj.gateway_transaction_id or obj.reference or str(obj.uuid)[:8]]

    @display(description="Kind", label=PAYMENT_KIND, ordering="kind")
    def kind_badge(self, obj):
        return obj.kind, obj.get_kind_display()

    @display(description="Status", label=PAYMENT_STATUS, ordering="status")
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Amount", ordering="amount")
    def amount_cell(self, obj):
        return money(obj.signed_amount, obj.currency)

    @display(description="Invoice")
    def invoice_cell(self, obj):
        return str(obj.invoice) if obj.invoice_id else "—"


@admin.register(PaymentMethod)
class PaymentMethodAdmin(CustomerColumnMixin, ModelAdmin):
    list_display = ("method_cell", "customer_cell", "gateway", column(PaymentMethod, "is_default"), "expires",
                    "removed_at")  # fmt: skip
    list_select_related = ("customer__user",)
    list_filter = (("gateway", ChoicesDropdownFilter), "is_default")
    list_filter_submit = True
    search_fields = ("gateway_method_id", "last4", "label", "customer__company", "customer__user__email")
    readonly_fields = ("customer", "gateway", "gateway_method_id", "kind", "brand", "last4", "exp_month", "exp_year",
                       "created_at", "removed_at")  # fmt: skip
    fields = ("customer", "gateway", "gateway_method_id", "kind", "brand", "last4", "exp_month", "exp_year", "label",
              "is_default", "created_at", "removed_at")  # fmt: skip

    def has_add_permission(self, request):
        # Methods are saved through the gateway (SetupIntent, PayPal approval), never typed in.
        return False

    @display(description="Method", header=True)
    def method_cell(self, obj):
        return [str(obj), obj.gateway_method_id]

    @display(description="Expires")
    def expires(self, obj):
        return f"{obj.exp_month:02d}/{obj.exp_year}" if obj.exp_month and obj.exp_year else "—"


@admin.register(GatewayCustomer)
class GatewayCustomerAdmin(CustomerColumnMixin, ReadOnlyModelAdmin):
    list_display = ("customer_cell", "gateway", column(GatewayCustomer, "gateway_customer_id"), "created_at")
    list_select_related = ("customer__user",)
    list_filter = (("gateway", ChoicesDropdownFilter),)
    search_fields = ("gateway_customer_id", "customer__company", "customer__user__email")


@admin.register(CreditEntry)
class CreditEntryAdmin(CustomerColumnMixin, ReadOnlyModelAdmin):
    """The credit ledger is append-only: entries come from core.billing.services.credit."""

    list_display = ("customer_cell", "amount_cell", "reason", "description", "invoice_cell", "created_at")
    list_select_related = ("customer__user", "currency", "invoice")
    list_filter = (
        ("reason", ChoicesDropdownFilter),
        ("currency", RelatedDropdownFilter),
        ("created_at", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("customer__company", "customer__user__email", "description", "invoice__number")
    date_hierarchy = "created_at"

    @display(description="Amount", ordering="amount")
    def amount_cell(self, obj):
        return money(obj.amount, obj.currency)

    @display(description="Invoice")
    def invoice_cell(self, obj):
        return str(obj.invoice) if obj.invoice_id else "—"


# --- Coupons ------------------------------------------------------------------------------


class CouponAmountInline(TabularInline):
    model = CouponAmount
    extra = 0
    fields = ("currency", "amount")


@admin.register(Coupon)
class CouponAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = ("coupon_cell", "kind", "discount", "duration", "usage", "expires_at", "active_badge")
    list_filter = (("kind", ChoicesDropdownFilter), ("duration", ChoicesDropdownFilter), "is_active",
                   ("expires_at", RangeDateFilter))  # fmt: skip
    list_filter_submit = True
    search_fields = ("code", "description")
    filter_horizontal = ("products",)
    readonly_fields = ("times_redeemed", "created_at")
    inlines = (CouponAmountInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("amounts")

    @display(description="Coupon", header=True, ordering="code")
    def coupon_cell(self, obj):
        return [obj.code, obj.description]

    @display(description="Discount")
    def discount(self, obj):
        if obj.kind == Coupon.Kind.PERCENT:
            return f"{obj.percent}%"
        if obj.kind == Coupon.Kind.TRIAL:
            return f"+{obj.trial_extension_days} trial days"
        return ", ".join(money(a.amount, a.currency_id) for a in obj.amounts.all()) or "—"

    @display(description="Used")
    def usage(self, obj):
        return f"{obj.times_redeemed} / {obj.max_redemptions}" if obj.max_redemptions else str(obj.times_redeemed)

    @display(description="Active", label={"yes": "success", "no": "danger"}, ordering="is_active")
    def active_badge(self, obj):
        return ("yes", "Active") if obj.is_active else ("no", "Inactive")


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(CustomerColumnMixin, ReadOnlyModelAdmin):
    list_display = ("coupon", "customer_cell", "order", "subscription", "redeemed_at")
    list_select_related = ("coupon", "customer__user", "order", "subscription__price__product")
    search_fields = ("coupon__code", "customer__company", "customer__user__email")
    list_filter = (("redeemed_at", RangeDateFilter),)
    list_filter_submit = True


# --- Tax, numbering, webhooks, policy ----------------------------------------------------


@admin.register(TaxRate)
class TaxRateAdmin(ModelAdmin):
    list_display = ("name", "country", "region", "rate", column(TaxRate, "is_eu_vat"), column(TaxRate, "is_active"))
    list_filter = ("is_eu_vat", "is_active", "country")
    search_fields = ("name", "country", "region")


@admin.register(NumberSequence)
class NumberSequenceAdmin(ModelAdmin):
    """Counters are advanced only under a row lock by the numbering service; staff may change the format."""

    list_display = ("series", "year", "last_value", "format")
    readonly_fields = ("series", "year", "last_value")
    fields = ("series", "year", "last_value", "format")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyModelAdmin):
    list_display = ("event_cell", "gateway", "status_badge", "attempts", "received_at", "processed_at")
    list_filter = (("gateway", ChoicesDropdownFilter), ("status", ChoicesDropdownFilter),
                   ("received_at", RangeDateFilter))  # fmt: skip
    list_filter_submit = True
    search_fields = ("event_id", "event_type")
    date_hierarchy = "received_at"

    @display(description="Event", header=True, ordering="event_type")
    def event_cell(self, obj):
        return [obj.event_type, obj.event_id]

    @display(description="Status", label=WEBHOOK_STATUS, ordering="status")
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()


@admin.register(SuspensionPolicy)
class SuspensionPolicyAdmin(ModelAdmin):
    list_display = (
        "service_type",
        "suspend_after_days",
        "terminate_after_days",
        column(SuspensionPolicy, "is_enabled"),
    )
    list_filter = ("is_enabled",)
