import datetime as dt
import uuid

from ninja import Field, Schema


class InvoiceOut(Schema):
    """An invoice in a list."""

    id: uuid.UUID
    number: str | None
    kind: str
    purpose: str
    status: str = Field(description="issued, paid or void")
    currency: str
    total: str
    amount_due: str
    issue_date: dt.date | None
    due_date: dt.date | None
    paid_at: dt.datetime | None
    is_overdue: bool


class InvoiceLineOut(Schema):
    description: str
    kind: str
    quantity: str
    unit_amount: str
    amount: str
    tax_rate: str
    tax_amount: str
    tax_name: str
    period_start: dt.datetime | None
    period_end: dt.datetime | None


class InvoicePaymentOut(Schema):
    """A payment or refund booked on an invoice."""

    id: uuid.UUID
    kind: str
    status: str
    gateway: str
    amount: str
    currency: str
    received_at: dt.datetime


class InvoiceDetailOut(InvoiceOut):
    """An invoice with its frozen lines, tax and payments."""

    subtotal: str
    discount_total: str
    tax_total: str
    amount_paid: str
    credit_applied: str
    amount_refunded: str
    tax_note: str
    reverse_charge: bool
    billing_details: dict
    lines: list[InvoiceLineOut]
    payments: list[InvoicePaymentOut]


class PayInvoiceIn(Schema):
    payment_method_id: int = Field(
        ge=1, le=2_147_483_647, description="One of your saved payment methods (GET /payment-methods)."
    )


class PayInvoiceOut(Schema):
    """How a charge ended. `requires_action`: finish 3-D Secure in the browser at action_url."""

    status: str = Field(description="succeeded, processing or requires_action")
    message: str
    invoice: InvoiceOut
    action_url: str | None = None


class PaymentMethodOut(Schema):
    """A saved card or account the customer can pay with."""

    id: int
    gateway: str
    kind: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    label: str
    is_default: bool
    created_at: dt.datetime
