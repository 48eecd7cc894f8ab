import datetime as dt
import uuid
from typing import Literal

from ninja import Field, Schema
from pydantic import BaseModel

CancelReason = Literal["too_expensive", "not_needed", "switching", "performance", "support", "other", ""]


class ServiceOut(BaseModel):  # built from dicts only: a plain model skips ninja's per-object attribute getter
    """A service in a list."""

    id: uuid.UUID
    label: str
    hostname: str
    status: str = Field(description="pending, provisioning, active, suspended, terminated, failed, awaiting_stock")
    service_type: str
    product: str
    product_slug: str
    primary_ip: str | None
    created_at: dt.datetime
    next_due_date: dt.datetime | None
    cancel_at_period_end: bool


class ServiceDetailOut(ServiceOut):
    """A service with its addresses, plan and billing state."""

    ip_addresses: list
    pending_action: str
    suspension_reason: str
    price_id: int | None
    cycle: str | None
    amount: str | None
    currency: str | None
    subscription_status: str | None
    provisioned_at: dt.datetime | None
    terminated_at: dt.datetime | None


class PowerIn(Schema):
    action: Literal["boot", "shutdown", "restart", "hard_stop"]


class ReinstallIn(Schema):
    template: int | str | None = Field(
        None,
        description="What to install: an id from the product's order_options (os_templates; eggs for game "
        "servers). Leave it out when the product offers no choice: what the server runs now is installed again.",
    )


class AcceptedOut(Schema):
    """The platform accepted the request."""

    detail: str


class LiveUsageOut(Schema):
    power_state: str
    cpu_percent: float | None
    memory_bytes: int | None
    memory_limit_bytes: int | None
    disk_bytes: int | None
    disk_limit_bytes: int | None
    traffic_in_bytes: int | None
    traffic_out_bytes: int | None
    traffic_total_bytes: int | None


class BandwidthDayOut(Schema):
    day: dt.date
    bytes_in: int
    bytes_out: int
    used: int = Field(description="What the product counts for the day (by default the larger of in and out).")


class BandwidthOut(Schema):
    """This billing period's metered bandwidth (decimal units: 1 GB = 10^9 bytes)."""

    period_start: dt.date
    period_end: dt.date
    bytes_in: int
    bytes_out: int
    used_bytes: int = Field(description="What counts against the quota (in, out, both or the larger: per product).")
    quota_bytes: int | None = Field(description="Null: unmetered.")
    percent: int | None
    projected_bytes: int = Field(description="Straight-line projection to the end of the period.")
    counting: str
    daily: list[BandwidthDayOut]


class UsageOut(Schema):
    """Live figures from the platform (null when unavailable) and this period's metered bandwidth."""

    live: LiveUsageOut | None
    bandwidth: BandwidthOut | None


class ChangePlanIn(Schema):
    price_id: int = Field(ge=1, le=2_147_483_647, description="The new plan's price (same currency and cycle).")


class PlanChangeLineOut(Schema):
    description: str
    amount: str
    tax_amount: str
    period_start: dt.datetime | None
    period_end: dt.datetime | None


class PlanChangePreviewOut(Schema):
    """The exact prorated lines a plan change makes now: charged when net > 0, credited when < 0."""

    new_price_id: int
    currency: str
    fraction: str = Field(description="Share of the current period left (0..1).")
    lines: list[PlanChangeLineOut]
    net: str
    tax: str
    total: str
    is_upgrade: bool


class PlanChangeOut(Schema):
    """The plan change made: the invoice issued (upgrade) or credit given (downgrade)."""

    service: ServiceDetailOut
    invoice_id: uuid.UUID | None
    invoice_number: str | None
    credit: str


class CancelIn(Schema):
    reason: CancelReason = ""
    comment: str = Field("", max_length=2000)
