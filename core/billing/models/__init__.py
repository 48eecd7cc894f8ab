"""Money records: orders, subscriptions, invoices, payments, credit, coupons, tax, numbering.

Invariants kept by the database (not only forms): unique invoice numbers, one renewal
invoice per subscription period, one payment per gateway transaction id, one stored
event per gateway event id, non-negative amounts where a sign makes no sense.

One module per topic; every public name is re-exported here, so callers keep
importing from `core.billing.models`.
"""

# isort: off
# Imported in the order the models were declared in the former single module, so the
# app registry lists them as before (get_models(), admin index, serialisation order).
from .fields import ZERO, Gateway, money_field
from .tax import NumberSequence, TaxRate
from .coupons import Coupon, CouponAmount, CouponRedemption
from .orders import Order, OrderItem, Subscription
from .invoices import Invoice, InvoiceLine
from .payments import CreditEntry, GatewayCustomer, Payment, PaymentMethod, WebhookEvent
from .policy import PendingPolicyAction, SuspensionPolicy

# isort: on

__all__ = [
    "ZERO",
    "Coupon",
    "CouponAmount",
    "CouponRedemption",
    "CreditEntry",
    "Gateway",
    "GatewayCustomer",
    "Invoice",
    "InvoiceLine",
    "NumberSequence",
    "Order",
    "OrderItem",
    "Payment",
    "PaymentMethod",
    "PendingPolicyAction",
    "Subscription",
    "SuspensionPolicy",
    "TaxRate",
    "WebhookEvent",
    "money_field",
]
