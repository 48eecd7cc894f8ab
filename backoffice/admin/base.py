"""Pieces every admin module shares: money cells, status colours, read-only admin bases.

Money cells never look the currency up: the exponent comes from the related Currency
row that the list already selected, so a list page stays at a constant number of queries.
"""

import re
from decimal import Decimal

from unfold import admin as unfold_admin

from core.audit.services import jsonable, record
from core.money import ISO_EXPONENTS

from .labels import FieldLabelsMixin

SECRET_FIELD = re.compile(r"secret|password|token|api_key|key$|credential", re.IGNORECASE)


def _audit_value(name: str, value):
    """A field's value for the audit log; secrets are never written, only that they changed."""
    return "(changed, not shown)" if SECRET_FIELD.search(name) else jsonable(value)


class AuditedChangesMixin:
    """Every add, change and delete made through an admin form goes to the audit log with the
    actor, the source (admin), the IP and a before/after of the fields that changed."""

    def save_model(self, request, obj, form, change):
        before = {name: _audit_value(name, form.initial.get(name)) for name in form.changed_data} if change else None
        super().save_model(request, obj, form, change)
        label = obj._meta.label_lower
        if change:
            if not form.changed_data:
                return
            after = {name: _audit_value(name, form.cleaned_data.get(name)) for name in form.changed_data}
            record(f"{label}.change", obj, actor=request.user, before=before, after=after,
                   message="Changed " + ", ".join(form.changed_data))  # fmt: skip
        else:
            record(f"{label}.add", obj, actor=request.user, message=f"Added {obj}")

    def delete_model(self, request, obj):
        record(f"{obj._meta.label_lower}.delete", obj, actor=request.user, message=f"Deleted {obj}")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            record(f"{obj._meta.label_lower}.delete", obj, actor=request.user, message=f"Deleted {obj}")
        super().delete_queryset(request, queryset)


class ModelAdmin(AuditedChangesMixin, FieldLabelsMixin, unfold_admin.ModelAdmin):
    """Unfold's ModelAdmin with readable field labels (see labels.py) and audited form changes;
    every admin here uses it."""


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
