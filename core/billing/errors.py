"""Billing's domain errors: each message says what a person can do about it."""


class BillingError(Exception):
    """Base for every billing rule a caller broke."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        if field:
            self.field = field


class ImmutableInvoiceError(BillingError):
    """Something tried to change an issued invoice."""


class InvalidTransition(BillingError):
    """A status change that the lifecycle does not allow."""


class CouponError(BillingError):
    field = "coupon"


class PaymentError(BillingError):
    """A gateway refused or failed a payment operation."""


class InsufficientCredit(BillingError):
    field = "amount"


class OrderError(BillingError):
    """An order that cannot be placed as asked (unknown price, out of stock, no capacity)."""


class SubscriptionError(BillingError):
    """A subscription change the current state does not allow."""


class TaxConfigurationError(BillingError):
    """The tax setup cannot produce a rate for this customer."""
