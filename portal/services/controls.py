"""Which actions the service page offers, each enabled or disabled with the reason a customer reads.

The rules themselves are core's (power needs an active service with nothing pending, plan changes a
running subscription); this module only says them ahead of time so buttons are not dead ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.billing.models import Subscription
from core.catalog.models import Price
from core.provisioning.models import Service
from core.provisioning.services import reinstall_blocker

RUNNING = (Subscription.Status.ACTIVE, Subscription.Status.TRIALING, Subscription.Status.PAST_DUE)


POWER = (
    ("boot", "Start", ""),
    ("shutdown", "Shut down", "Shut down {service}? Everything running on it stops until you start it again."),
    ("restart", "Restart", "Restart {service}? Everything running on it is interrupted for a minute or two."),
)


@dataclass
class Control:
    name: str
    label: str
    enabled: bool
    reason: str = ""
    confirm: str = ""  # the question asked before it runs (shut down, restart, reinstall)


def _service_reason(service: Service, what: str) -> str:
    if service.status == Service.Status.SUSPENDED:
        return f"{what} is unavailable while the service is suspended."
    if service.status in (Service.Status.PENDING, Service.Status.PROVISIONING):
        return f"{what} becomes available once the service is set up."
    if service.status != Service.Status.ACTIVE:
        return f"{what} needs an active service; this one is {service.get_status_display().lower()}."
    if service.pending_action:
        return f"Wait until “{service.pending_action}” has been confirmed."
    if service.connection_id is None:
        return f"{what} is done by our team for this service; open a ticket."
    return ""


def controls(service: Service, usage) -> dict[str, object]:
    power_state = getattr(usage, "power_state", "unknown") if usage is not None else "unknown"
    base = _service_reason(service, "This action")
    power = []
    for signal, label, confirm in POWER:
        reason = base
        if not reason and signal == "boot" and power_state == "running":
            reason = "The server is already running."
        if not reason and signal in ("shutdown", "restart") and power_state == "stopped":
            reason = "The server is stopped; start it instead."
        power.append(Control(signal, label, not reason, reason, confirm.format(service=service)))
    panel_reason = _service_reason(service, "The control panel")
    reinstall_reason = reinstall_blocker(service)
    reinstall = Control(
        "reinstall", "Reinstall", not reinstall_reason, reinstall_reason,
        f"Reinstall {service}? Everything on its disk is erased.",
    )  # fmt: skip
    return {
        "power": power,
        "panel": Control("panel", "Open control panel", not panel_reason, panel_reason),
        "reinstall": reinstall,
        "change_plan": _change_plan_control(service),
        "cancel": _cancel_control(service),
    }


def plan_choices(subscription: Subscription):
    """Prices the subscription may move to: same service type, currency and cycle, for sale now."""
    product = subscription.price.product
    return (
        Price.objects.filter(
            currency_id=subscription.currency_id,
            cycle=subscription.cycle,
            is_active=True,
            product__status="active",
            product__service_type=product.service_type,
            product__platform=product.platform,
        )  # fmt: skip
        .exclude(pk=subscription.price_id)
        .select_related("product")
        .order_by("amount")
    )


def _subscription_reason(service: Service) -> str:
    subscription = service.subscription
    if subscription is None:
        return "This service has no subscription in the client area; open a ticket."
    if subscription.status not in RUNNING:
        return f"The subscription is {subscription.get_status_display().lower()}."
    if service.status not in (Service.Status.ACTIVE, Service.Status.SUSPENDED):
        return f"Available once the service is active (it is {service.get_status_display().lower()})."
    return ""


def _change_plan_control(service: Service) -> Control:
    reason = _subscription_reason(service)
    if not reason and service.subscription.cancel_at_period_end:
        reason = "Undo the pending cancellation before changing plan."
    if not reason and service.status == Service.Status.SUSPENDED:
        reason = "Pay the overdue invoice first; plan changes resume once the service is active."
    if not reason and not plan_choices(service.subscription).exists():
        reason = "No other plan of this kind is sold in your currency and billing cycle."
    return Control("change_plan", "Upgrade or downgrade", not reason, reason)


def _cancel_control(service: Service) -> Control:
    reason = _subscription_reason(service)
    if not reason and service.subscription.cancel_at_period_end:
        reason = "Cancellation is already scheduled."
    return Control("cancel", "Cancel service", not reason, reason)
