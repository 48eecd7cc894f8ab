"""Subscriptions in the admin; status, amounts and periods change only through the billing services."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateFilter,
    RangeNumericFilter,
    RelatedDropdownFilter,
)
from unfold.decorators import action, display

from backoffice import billing_views as billing_actions  # billing action bodies and forms
from core.billing.models import (
    Subscription,
)

from ..base import (
    SUBSCRIPTION_STATUS,
    ModelAdmin,
    money,
)
from .columns import CustomerColumnMixin


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
