"""GET /catalog/products: plans for sale, by service type, priced in the caller's currency per cycle."""

from typing import Literal

from django.db.models import Prefetch
from ninja import Path, Router
from ninja.pagination import paginate

from core.catalog.models import Price, Product

from .. import auth
from ..errors import NotFound, responses
from ..pagination import Page
from ..query import known_query
from ..schemas.catalog import ProductOut
from .common import amount

router = Router(tags=["catalog"])
ServiceType = Literal["vps", "dedicated", "hosting", "game_server"]


def _for_sale(customer):
    prices = Price.objects.filter(currency_id=customer.currency_id, is_active=True).order_by("cycle", "id")
    return (
        Product.objects.filter(status=Product.Status.ACTIVE, prices__in=prices)
        .distinct()
        .prefetch_related(Prefetch("prices", queryset=prices, to_attr="offered"))
        .order_by("sort_order", "name", "id")
    )


def product_out(product) -> dict:
    return {
        "slug": product.slug, "name": product.name, "description": product.description,
        "service_type": product.service_type, "cpu_cores": product.cpu_cores, "ram_mb": product.ram_mb,
        "disk_gb": product.disk_gb, "bandwidth_quota_gb": product.bandwidth_quota_gb,
        "features": product.features or {}, "in_stock": product.is_in_stock,
        "order_options": getattr(product, "order_options", None) or {},
        "prices": [
            {"id": p.pk, "cycle": p.cycle, "currency": p.currency_id, "amount": amount(p.amount, p.currency_id),
             "setup_fee": amount(p.setup_fee, p.currency_id), "trial_days": p.trial_days}
            for p in product.offered
        ],
    }  # fmt: skip


@router.get("/catalog/products", response=responses({200: list[ProductOut]}), auth=auth.read,
            summary="Products for sale")  # fmt: skip
@known_query("service_type")
@paginate(Page)
def list_products(request, service_type: ServiceType | None = None):
    """Active products with at least one price in your billing currency, optionally of one service type."""
    products = _for_sale(auth.caller(request).customer)
    if service_type:
        products = products.filter(service_type=service_type)
    return [product_out(p) for p in products]


@router.get("/catalog/products/{slug}", response=responses({200: ProductOut}, 404), auth=auth.read,
            summary="One product")  # fmt: skip
def get_product(request, slug: str = Path(..., max_length=120)):
    product = _for_sale(auth.caller(request).customer).filter(slug=slug).first()
    if product is None:
        raise NotFound("product")
    return product_out(product)
