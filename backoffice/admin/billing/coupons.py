"""Coupons, their per-currency amounts and redemptions."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateFilter,
)
from unfold.decorators import display

from core.billing.models import (
    Coupon,
    CouponAmount,
    CouponRedemption,
)

from ..base import (
    ModelAdmin,
    ReadOnlyModelAdmin,
    TabularInline,
    money,
)
from .columns import CustomerColumnMixin


class CouponAmountInline(TabularInline):
    model = CouponAmount
    extra = 0
    fields = ("currency", "amount")


@admin.register(Coupon)
class CouponAdmin(SimpleHistoryAdmin, ModelAdmin):
    list_display = ("coupon_cell", "kind", "discount", "duration", "usage", "expires_at", "active_badge")
    list_filter = (("kind", ChoicesDropdownFilter), ("duration", ChoicesDropdownFilter), "is_active",
                   ("expires_at", RangeDateFilter))  # fmt: skip
    list_filter_submit = True
    search_fields = ("code", "description")
    filter_horizontal = ("products",)
    readonly_fields = ("times_redeemed", "created_at")
    inlines = (CouponAmountInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("amounts")

    @display(description="Coupon", header=True, ordering="code")
    def coupon_cell(self, obj):
        return [obj.code, obj.description]

    @display(description="Discount")
    def discount(self, obj):
        if obj.kind == Coupon.Kind.PERCENT:
            return f"{obj.percent}%"
        if obj.kind == Coupon.Kind.TRIAL:
            return f"+{obj.trial_extension_days} trial days"
        return ", ".join(money(a.amount, a.currency_id) for a in obj.amounts.all()) or "—"

    @display(description="Used")
    def usage(self, obj):
        return f"{obj.times_redeemed} / {obj.max_redemptions}" if obj.max_redemptions else str(obj.times_redeemed)

    @display(description="Active", label={"yes": "success", "no": "danger"}, ordering="is_active")
    def active_badge(self, obj):
        return ("yes", "Active") if obj.is_active else ("no", "Inactive")


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(CustomerColumnMixin, ReadOnlyModelAdmin):
    list_display = ("coupon", "customer_cell", "order", "subscription", "redeemed_at")
    list_select_related = ("coupon", "customer__user", "order", "subscription__price__product")
    search_fields = ("coupon__code", "customer__company", "customer__user__email")
    list_filter = (("redeemed_at", RangeDateFilter),)
    list_filter_submit = True
