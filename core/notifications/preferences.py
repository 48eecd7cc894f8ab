"""A customer's choice of non-essential mail (catalogue.CATEGORIES); essential mail ignores it."""

from django.db import transaction

from core import clock

from . import catalogue
from .models import NotificationPreference


def opted_out_categories(customer) -> list[str]:
    pref = NotificationPreference.objects.filter(customer=customer).first()
    return list(pref.opted_out) if pref else []


def set_preferences(customer, *, wanted: set[str], actor=None) -> NotificationPreference:
    """Store the categories the customer switched off (unknown names are ignored). Audited."""
    from core.audit.services import record

    opted_out = sorted(set(catalogue.CATEGORIES) - set(wanted))
    with transaction.atomic():
        pref, _ = NotificationPreference.objects.select_for_update().get_or_create(customer=customer)
        before = list(pref.opted_out)
        pref.opted_out, pref.updated_at = opted_out, clock.now()
        pref.save()
        if before != opted_out:
            record("notification.preferences_changed", customer, actor=actor, customer=customer,
                   before={"opted_out": before}, after={"opted_out": opted_out})  # fmt: skip
    return pref
