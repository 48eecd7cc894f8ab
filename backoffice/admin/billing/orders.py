"""Orders in the admin: read-only records of what customers asked to buy."""

from django.contrib import admin
from django.db.models import Count
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeDateFilter,
    RelatedDropdownFilter,
)
from unfold.decorators import display

from core.billing.models import (
    Order,
    OrderItem,
)

from ..base import (
    ORDER_STATUS,
    ModelAdmin,
    TabularInline,
)
from .columns import CustomerColumnMixin


class OrderItemInline(TabularInline):
    model = OrderItem
    extra = 0
    fields = ("price", "quantity", "hostname", "subscription", "whmcs_ref")
    readonly_fields = ("price", "quantity", "hostname", "subscription", "whmcs_ref")
    can_delete = False
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("price__product", "price__currency", "subscription")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(CustomerColumnMixin, ModelAdmin):
    list_display = ("order_cell", "customer_cell", "status_badge", "items_count", "invoice_cell", "created_at")
    list_select_related = ("customer__user", "currency", "invoice", "coupon")
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("currency", RelatedDropdownFilter),
        ("created_at", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("uuid", "customer__company", "customer__user__email", "invoice__number", "items__hostname")
    autocomplete_fields = ("customer", "invoice", "coupon")
    readonly_fields = ("uuid", "customer", "currency", "status", "coupon", "invoice", "ip_address", "created_at",
                       "paid_at", "refusal_reason")  # fmt: skip
    fields = ("uuid", "customer", "status", "currency", "coupon", "invoice", "ip_address", "created_at", "paid_at",
              "refusal_reason", "notes")  # fmt: skip
    inlines = (OrderItemInline,)
    date_hierarchy = "created_at"
    # Domain actions (cancel, refuse, fulfil...) are appended by the billing engineer.
    actions = []
    actions_list = []
    actions_detail = []
    actions_row = []

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(item_count=Count("items"))

    def has_add_permission(self, request):
        # Orders are placed through core.billing.services.orders.place_order (portal, API, staff action).
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description="Order", header=True, ordering="created_at")
    def order_cell(self, obj):
        return [f"Order {obj.pk}", obj.currency_id]

    @display(description="Status", label=ORDER_STATUS, ordering="status")
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Items", ordering="item_count")
    def items_count(self, obj):
        return obj.item_count

    @display(description="Invoice")
    def invoice_cell(self, obj):
        return str(obj.invoice) if obj.invoice_id else "—"
