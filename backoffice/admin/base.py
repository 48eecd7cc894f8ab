"""Pieces every admin module shares: money cells, status colours, read-only admin bases.

Money cells never look the currency up: the exponent comes from the related Currency
row that the list already selected, so a list page stays at a constant number of queries.
"""

from decimal import Decimal

from unfold import admin as unfold_admin

from core.money import ISO_EXPONENTS

from .labels import FieldLabelsMixin


class ModelAdmin(FieldLabelsMixin, unfold_admin.ModelAdmin):
    """Unfold's ModelAdmin with readable field labels (see labels.py); every admin here uses it."""


class TabularInline(FieldLabelsMixin, unfold_admin.TabularInline):
    """Unfold's TabularInline with readable field labels."""


def money(amount: Decimal | None, currency) -> str:
    """`USD 1,234.50` from an amount and a Currency row (or a bare ISO code)."""
    if amount is None:
        return "—"
    code = getattr(currency, "code", currency) or ""
    places = getattr(currency, "exponent", None)
    if places is None:
        places = ISO_EXPONENTS.get(str(code).upper(), 2)
    sign = "-" if amount < 0 else ""
    return f"{sign}{code} {abs(amount):,.{places}f}"


# Badge colours per status value (Unfold: success, info, warning, danger; missing keys are grey).
# Void is grey (a closed record), so that red means "needs attention": overdue.
INVOICE_STATUS = {"draft": "info", "issued": "warning", "paid": "success", "overdue": "danger"}
PAYMENT_STATUS = {"succeeded": "success", "pending": "info", "requires_action": "warning", "failed": "danger"}
PAYMENT_KIND = {"payment": "success", "refund": "warning", "chargeback": "danger"}
SUBSCRIPTION_STATUS = {
    "trialing": "info",
    "active": "success",
    "past_due": "warning",
    "cancelled": "danger",
    "ended": "danger",
}
ORDER_STATUS = {
    "pending": "info",
    "paid": "success",
    "fulfilled": "success",
    "cancelled": "danger",
    "refused": "danger",
}
SERVICE_STATUS = {
    "pending": "info",
    "provisioning": "info",
    "active": "success",
    "suspended": "warning",
    "terminated": "danger",
    "failed": "danger",
    "awaiting_stock": "warning",
}
JOB_OUTCOME = {"queued": "info", "running": "info", "succeeded": "success", "retrying": "warning", "failed": "danger"}
CUSTOMER_STATUS = {"active": "success", "suspended": "warning", "banned": "danger"}
WEBHOOK_STATUS = {"received": "info", "processed": "success", "ignored": "warning", "failed": "danger"}
NOTIFICATION_STATUS = {"queued": "info", "sent": "success", "failed": "danger"}
YES_NO = {"yes": "success", "no": "danger"}


class ReadOnlyAdminMixin:
    """Records written only by services (ledgers, logs, mirrors): staff look, never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyModelAdmin(ReadOnlyAdminMixin, ModelAdmin):
    pass


class ReadOnlyTabularInline(ReadOnlyAdminMixin, TabularInline):
    """A read-only, paginated inline (Unfold paginates with per_page)."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    per_page = 10
