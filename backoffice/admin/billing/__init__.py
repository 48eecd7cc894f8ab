"""Billing in the admin: orders, subscriptions, invoices, payments, credit, coupons, tax.

State changes (issue, void, record payment, refund, apply credit, cancel...) are Unfold
actions that call core.billing.services; they are appended to the `actions*` lists of
the classes below. Forms here only edit what has no business rule attached.

One module per topic; importing them registers every ModelAdmin, and the names are
re-exported so `backoffice.admin.billing.<name>` keeps working.
"""

# isort: off
# Imported in the order the admins were declared in the former single module, so they
# register with the admin site in (almost) the same order as before; billing_views first
# registers PendingPolicyActionAdmin, as the old module's import of it did.
from backoffice import billing_views  # noqa: F401
from .columns import CustomerColumnMixin
from .orders import OrderAdmin, OrderItemInline
from .subscriptions import SubscriptionAdmin
from .invoices import InvoiceAdmin, InvoiceLineInline, invoice_actions_for, tax_breakdown_table
from .forms import RefundForm
from .payments import CreditEntryAdmin, GatewayCustomerAdmin, PaymentAdmin, PaymentMethodAdmin, WebhookEventAdmin
from .coupons import CouponAdmin, CouponAmountInline, CouponRedemptionAdmin
from .tax import NumberSequenceAdmin, TaxRateAdmin
from .policy import SuspensionPolicyAdmin

# isort: on

__all__ = [
    "CouponAdmin",
    "CouponAmountInline",
    "CouponRedemptionAdmin",
    "CreditEntryAdmin",
    "CustomerColumnMixin",
    "GatewayCustomerAdmin",
    "InvoiceAdmin",
    "InvoiceLineInline",
    "NumberSequenceAdmin",
    "OrderAdmin",
    "OrderItemInline",
    "PaymentAdmin",
    "PaymentMethodAdmin",
    "RefundForm",
    "SubscriptionAdmin",
    "SuspensionPolicyAdmin",
    "TaxRateAdmin",
    "WebhookEventAdmin",
    "invoice_actions_for",
    "tax_breakdown_table",
]
