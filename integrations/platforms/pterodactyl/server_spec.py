"""What a Pterodactyl server should look like for a product: limits, feature limits, egg defaults,
panel usernames, and the node-capacity arithmetic the panel itself applies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def panel_username(email: str, customer_id: str) -> str:
    """A valid panel username: lower-case a-z0-9 _ . -, alphanumeric at both ends, 3+ characters."""
    local = re.sub(r"[^a-z0-9_.-]", "", email.split("@")[0].lower())
    local = re.sub(r"^[^a-z0-9]+|[^a-z0-9]+$", "", local)[:24] or "user"
    suffix = re.sub(r"[^a-z0-9]", "", str(customer_id).lower())[:12]
    return f"{local}{suffix}" if len(local + suffix) >= 3 else f"{local}{suffix}000"[:3]


def split_name(full_name: str, email: str) -> tuple[str, str]:
    parts = (full_name or "").split(None, 1)
    first = (parts[0] if parts else "") or email.split("@")[0] or "Customer"
    last = parts[1] if len(parts) > 1 else first
    return first[:191], last[:191]


def fits_node(total: Any, overallocate: Any, allocated: Any, needed: int) -> bool:
    """Pterodactyl's rule: limit = total x (1 + overallocate%), and overallocate -1 disables the check."""
    total, over, used = _int_or_none(total), _int_or_none(overallocate) or 0, _int_or_none(allocated)
    if not needed or total is None or used is None or over < 0 or total == 0:
        return True
    return used + needed <= total * (100 + over) / 100


def in_port_range(port: Any, ranges: list) -> bool:
    if not ranges:
        return True
    port = _int_or_none(port)
    for item in ranges:
        low, _, high = str(item).partition("-")
        if port is not None and int(low) <= port <= int(high or low):
            return True
    return False


def limits_for(product_settings: dict, features: dict) -> dict:
    """Server limits from the product: memory and disk in MB, cpu in % of one core (0 = unlimited)."""
    ram_mb = _int_or_none(features.get("ram_mb"))
    disk_gb = _int_or_none(features.get("disk_gb"))
    cores = _int_or_none(features.get("cpu_cores"))
    limits = {
        "memory": ram_mb if ram_mb is not None else int(product_settings.get("memory", 0)),
        "swap": int(product_settings.get("swap", 0)),
        "disk": disk_gb * 1024 if disk_gb is not None else int(product_settings.get("disk", 0)),
        "io": int(product_settings.get("io", 500)),
        "cpu": int(product_settings["cpu"]) if product_settings.get("cpu") is not None else (cores or 0) * 100,
    }
    if product_settings.get("threads"):
        limits["threads"] = str(product_settings["threads"])
    return limits


def feature_limits_for(product_settings: dict) -> dict:
    return {
        "databases": int(product_settings.get("databases", 0)),
        "allocations": int(product_settings.get("allocations", 1)),
        "backups": int(product_settings.get("backups", 0)),
    }


def egg_image(egg: Mapping) -> str:
    if egg.get("docker_image"):
        return str(egg["docker_image"])
    images = egg.get("docker_images")
    if isinstance(images, Mapping) and images:
        return str(next(iter(images.values())))
    return ""
