"""django-q2 entry points for support (thin wrappers over services)."""

import datetime as dt

from core import clock

from . import services
from .errors import SupportError

MIRROR_SCHEDULE = "support: refresh ticket mirror"


def refresh_all_mirrors() -> dict:
    return services.refresh_all_mirrors()


def refresh_customer_mirror(customer_id: int) -> int:
    from core.accounts.models import Customer

    customer = Customer.objects.select_related("user").filter(pk=customer_id).first()
    return services.refresh_customer_mirror(customer) if customer else 0


def sync_customer(customer_id: int) -> str:
    from core.accounts.models import Customer

    customer = Customer.objects.select_related("user").filter(pk=customer_id).first()
    if customer is None:
        return "gone"
    try:
        services.sync_customer(customer)
    except SupportError as exc:  # never break the profile change that queued it; try again later
        from django_q.models import Schedule

        Schedule.objects.create(
            func="core.support.tasks.sync_customer", args=str(customer_id), schedule_type=Schedule.ONCE,
            next_run=clock.now() + dt.timedelta(minutes=10), name=f"support-sync-{customer_id}-{clock.now():%s}",
        )  # fmt: skip
        return f"retry later: {exc}"
    return "synced"


def ensure_schedules() -> list[str]:
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=MIRROR_SCHEDULE,
        defaults={"func": "core.support.tasks.refresh_all_mirrors", "schedule_type": Schedule.MINUTES,
                  "minutes": 15, "repeats": -1},
    )  # fmt: skip
    return [MIRROR_SCHEDULE]
