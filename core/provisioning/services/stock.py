"""Units of a product's stock held by services (taken at creation or hardware assignment,
given back on termination)."""

from __future__ import annotations

from django.db.models import F

from core.catalog.models import Product
from core.provisioning.models import Service


def take_stock(product: Product) -> bool:
    """Take one unit of a product's stock; False when none is left, or when the product's stock is
    not counted (nothing to hold)."""
    if product.stock_quantity is None:
        return False
    taken = Product.objects.filter(pk=product.pk, stock_quantity__gt=0).update(stock_quantity=F("stock_quantity") - 1)
    return bool(taken)


def give_back_stock(service: Service) -> list[str]:
    """Return the unit a (locked) service holds; returns the fields to save."""
    if not service.holds_stock:
        return []
    Product.objects.filter(pk=service.product_id, stock_quantity__isnull=False).update(
        stock_quantity=F("stock_quantity") + 1
    )
    service.holds_stock = False
    return ["holds_stock"]
