"""Tax rates and invoice number sequences."""

from django.contrib import admin

from core.billing.models import (
    NumberSequence,
    TaxRate,
)

from ..base import (
    ModelAdmin,
)
from ..labels import column


@admin.register(TaxRate)
class TaxRateAdmin(ModelAdmin):
    list_display = ("name", "country", "region", "rate", column(TaxRate, "is_eu_vat"), column(TaxRate, "is_active"))
    list_filter = ("is_eu_vat", "is_active", "country")
    search_fields = ("name", "country", "region")


@admin.register(NumberSequence)
class NumberSequenceAdmin(ModelAdmin):
    """Counters are advanced only under a row lock by the numbering service; staff may change the format."""

    list_display = ("series", "year", "last_value", "format")
    readonly_fields = ("series", "year", "last_value")
    fields = ("series", "year", "last_value", "format")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
