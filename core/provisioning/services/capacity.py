"""Can we fulfil a product now? Asked before a new order's first invoice is charged."""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured

from core.catalog.models import Platform, ServiceType
from core.provisioning import drivers
from core.provisioning.conf import setting
from core.provisioning.errors import CapacityError, NoPlatformConnection
from core.provisioning.models import PlatformConnection

log = logging.getLogger(__name__)


def connection_for(product) -> PlatformConnection | None:
    """The panel new services of `product` go to: its own connection, else the first active one
    of its platform. None for products staff fulfil by hand (platform "manual")."""
    if product.platform == Platform.MANUAL:
        return None
    if product.platform_connection_id:
        connection = product.platform_connection
        if not connection.is_active:
            raise NoPlatformConnection(
                f"The panel {connection.name!r} set on product {product.name!r} is inactive; "
                "activate it or choose another connection on the product."
            )
        return connection
    connection = PlatformConnection.objects.filter(platform=product.platform, is_active=True).order_by("pk").first()
    if connection is None:
        raise NoPlatformConnection(
            f"No active {product.get_platform_display()} connection exists for product {product.name!r}; "
            "add one under Provisioning → Platform connections."
        )
    return connection


def waits_for_hardware(product) -> bool:
    """Orders of this product wait in awaiting_stock for staff (manual approval, or a dedicated
    server with no stock left, which we back-order rather than refuse)."""
    if product.requires_manual_approval or product.platform == Platform.MANUAL:
        return True
    return product.service_type == ServiceType.DEDICATED and not product.is_in_stock


def product_features(product) -> dict:
    features = dict(product.features or {})
    for name in ("cpu_cores", "ram_mb", "disk_gb", "bandwidth_quota_gb"):
        value = getattr(product, name)
        if value is not None:
            features[name] = value
    return features


def check_capacity(product) -> None:
    """Raise CapacityError when `product` cannot be fulfilled now; return None when it can.

    - Out of stock refuses the order, except dedicated servers (back-ordered into awaiting_stock
      while settings PROVISIONING["DEDICATED_BACKORDER"] is on) and manual-approval products.
    - Otherwise the platform is asked (driver.check_capacity). When it cannot be asked (network,
      authentication, configuration), the order is refused with a retry-later message, unless
      PROVISIONING["CAPACITY_UNVERIFIED"] is "accept".
    """
    name = product.name
    if not product.is_in_stock:
        backorder = product.service_type == ServiceType.DEDICATED and setting("DEDICATED_BACKORDER")
        if not (backorder or product.requires_manual_approval):
            raise CapacityError(f"{name} is out of stock. Please choose another plan or try again later.")
        return
    if waits_for_hardware(product):
        return
    try:
        connection = connection_for(product)
    except NoPlatformConnection as exc:
        log.error("capacity check for product %s: %s", product.pk, exc)
        raise CapacityError(f"{name} cannot be ordered right now. Please try again later.") from exc
    try:
        drivers.get_driver(connection).check_capacity(product.platform_settings or {}, product_features(product))
    except drivers.CapacityError as exc:
        raise CapacityError(
            f"{name} is sold out in this location right now. Please choose another plan or try again later."
        ) from exc
    except (drivers.DriverError, ImproperlyConfigured, OSError) as exc:
        log.warning("capacity for product %s could not be verified on %s: %s", product.pk, connection.name, exc)
        if setting("CAPACITY_UNVERIFIED") == "accept":
            return
        raise CapacityError(
            f"We could not confirm that {name} is available right now. Please try again in a few minutes."
        ) from exc
