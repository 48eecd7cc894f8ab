"""The catalog in the admin: currencies (with reporting exchange rates), products and prices."""

from django.contrib import admin
from django.db.models import Count
from import_export.admin import ImportExportModelAdmin
from simple_history.admin import SimpleHistoryAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeNumericFilter, RelatedDropdownFilter
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import display

from core.catalog.models import Currency, Price, Product

from ..resources import FORMATS, PriceResource, ProductResource
from .base import ModelAdmin, TabularInline, money


@admin.register(Currency)
class CurrencyAdmin(ModelAdmin):
    list_display = ("code", "name", "symbol", "exponent", "exchange_rate", "is_active")
    list_filter = ("is_active",)
    search_fields = ("code", "name")

    def get_readonly_fields(self, request, obj=None):
        # The code is the primary key that every amount points at.
        return ("code",) if obj is not None else ()


class PriceInline(TabularInline):
    model = Price
    extra = 0
    fields = ("currency", "cycle", "amount", "setup_fee", "overage_per_gb", "trial_days", "is_active",
              "paypal_plan_id")  # fmt: skip


@admin.register(Product)
class ProductAdmin(SimpleHistoryAdmin, ImportExportModelAdmin, ModelAdmin):
    resource_classes = [ProductResource]
    formats = FORMATS
    import_form_class = ImportForm
    export_form_class = ExportForm
    list_display = ("product_cell", "service_type", "platform", "status_badge", "price_count", "stock",
                    "sort_order")  # fmt: skip
    list_select_related = ("platform_connection",)
    list_filter = (
        ("service_type", ChoicesDropdownFilter),
        ("platform", ChoicesDropdownFilter),
        ("status", ChoicesDropdownFilter),
        ("platform_connection", RelatedDropdownFilter),
    )
    list_filter_submit = True
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("platform_connection",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (PriceInline,)
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "service_type", "status", "sort_order")}),
        ("Platform", {"fields": ("platform", "platform_connection", "platform_settings")}),
        ("Resources", {"fields": ("cpu_cores", "ram_mb", "disk_gb", "bandwidth_quota_gb", "features")}),
        ("Stock", {"fields": ("stock_quantity", "requires_manual_approval")}),
        ("Record", {"fields": ("whmcs_id", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_prices=Count("prices"))

    @display(description="Product", header=True, ordering="name")
    def product_cell(self, obj):
        return [obj.name, obj.slug]

    @display(
        description="Status", label={"active": "success", "hidden": "warning", "archived": "danger"}, ordering="status"
    )
    def status_badge(self, obj):
        return obj.status, obj.get_status_display()

    @display(description="Prices", ordering="n_prices")
    def price_count(self, obj):
        return obj.n_prices

    @display(description="Stock")
    def stock(self, obj):
        return "unlimited" if obj.stock_quantity is None else obj.stock_quantity


@admin.register(Price)
class PriceAdmin(SimpleHistoryAdmin, ImportExportModelAdmin, ModelAdmin):
    resource_classes = [PriceResource]
    formats = FORMATS
    import_form_class = ImportForm
    export_form_class = ExportForm
    list_display = ("price_cell", "cycle", "amount_cell", "setup_cell", "trial_days", "is_active")
    list_select_related = ("product", "currency")
    list_filter = (
        ("currency", RelatedDropdownFilter),
        ("cycle", ChoicesDropdownFilter),
        ("product", RelatedDropdownFilter),
        "is_active",
        ("amount", RangeNumericFilter),
    )
    list_filter_submit = True
    search_fields = ("product__name", "product__slug", "currency__code")
    autocomplete_fields = ("product", "currency")

    @display(description="Price", header=True, ordering="product__name")
    def price_cell(self, obj):
        return [obj.product.name, obj.currency_id]

    @display(description="Amount", ordering="amount")
    def amount_cell(self, obj):
        return money(obj.amount, obj.currency)

    @display(description="Setup fee", ordering="setup_fee")
    def setup_cell(self, obj):
        return money(obj.setup_fee, obj.currency)
