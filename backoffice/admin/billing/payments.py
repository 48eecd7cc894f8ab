"""Payments, saved payment methods, gateway customers, the credit ledger and gateway webhook events."""

from django.contrib import admin
from import_export.admin import ExportMixin
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateFilter,
    RangeNumericFilter,
    RelatedDropdownFilter,
)
from unfold.contrib.import_export.forms import ExportForm
from unfold.decorators import action, display

from core.billing.models import (
    CreditEntry,
    GatewayCustomer,
    Payment,
    PaymentMethod,
    WebhookEvent,
)

from ...forms import finish_dialog
from ...resources import FORMATS, PaymentResource
from ..base import (
    PAYMENT_KIND,
    PAYMENT_STATUS,
    WEBHOOK_STATUS,
    ModelAdmin,
    ReadOnlyModelAdmin,
    money,
)
from ..cells import badge, header
from ..labels import column
from ..scale import LargeTableAdminMixin
from .columns import CustomerColumnMixin
from .forms import RefundForm


@admin.register(Payment)
class PaymentAdmin(LargeTableAdminMixin, CustomerColumnMixin, ExportMixin, ModelAdmin):
    """Payments are recorded only through the billing services (gateway webhooks, manual payment action)."""

    resource_classes = [PaymentResource]
    formats = FORMATS
    export_form_class = ExportForm
    list_display = ("payment_cell", "customer_cell", "kind_badge", "status_badge", "amount_cell", "invoice_cell",
                    "received_at")  # fmt: skip
    list_select_related = ("customer__user", "currency", "invoice")
    list_defer = ("raw", "invoice__billing_details", "invoice__seller_details", "invoice__tax_breakdown",
                  "invoice__notes")  # fmt: skip
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
    # No date_hierarchy: its year links read every row (SELECT DISTINCT year); the date range filter stays.
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
        # The amount limit per role is enforced by core.billing.services.refund_policy.
        user = request.user
        return user.has_perm("billing.refund_payment") or user.has_perm("billing.refund_any_amount")

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

    @display(description="Payment", ordering="received_at")
    def payment_cell(self, obj):
        return header(obj.get_gateway_display(), obj.gateway_transaction_id or obj.reference or str(obj.uuid)[:8])

    @display(description="Kind", ordering="kind")
    def kind_badge(self, obj):
        return badge(obj.kind, obj.get_kind_display(), PAYMENT_KIND)

    @display(description="Status", ordering="status")
    def status_badge(self, obj):
        return badge(obj.status, obj.get_status_display(), PAYMENT_STATUS)

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
