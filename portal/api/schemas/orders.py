import datetime as dt
import uuid

from ninja import Field, Schema


class OrderItemIn(Schema):
    price_id: int = Field(ge=1, le=2_147_483_647, description="A price from GET /catalog/products, in your currency.")
    quantity: int = Field(1, ge=1, le=100)
    options: dict = Field(
        default_factory=dict,
        description="The product's choices: hostname, location, os_template, egg (game servers), variables {NAME: value}.",
    )


class OrderIn(Schema):
    items: list[OrderItemIn] = Field(min_length=1, max_length=20)
    coupon_code: str | None = Field(None, max_length=64)


class PricedLineOut(Schema):
    description: str
    kind: str
    quantity: str
    unit_amount: str
    amount: str
    tax_rate: str
    tax_name: str
    tax_amount: str


class CouponCheckOut(Schema):
    code: str
    is_valid: bool
    message: str


class OrderPreviewOut(Schema):
    """What the order's first invoice would be now; nothing is written."""

    currency: str
    lines: list[PricedLineOut]
    subtotal: str
    discount_total: str
    tax_total: str
    total: str
    tax_note: str
    reverse_charge: bool
    coupon: CouponCheckOut | None
    unavailable: list[str] = Field(description="Items that cannot be fulfilled now: the order would be refused.")
    can_be_ordered: bool


class OrderOut(Schema):
    """A placed order and its first invoice (pay it with POST /invoices/{id}/pay)."""

    id: uuid.UUID
    status: str
    currency: str
    created_at: dt.datetime
    invoice_id: uuid.UUID | None
    invoice_number: str | None
    total: str | None
