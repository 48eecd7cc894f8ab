"""seed_demo loads data in every state through the domain services, and a second run changes nothing."""

import hashlib
import io

import pytest
from django.apps import apps
from django.core.management import call_command

from core.billing.models import Invoice, Payment
from core.provisioning.models import Service


def _fingerprint() -> dict[str, tuple[int, str]]:
    """Rows per model and a hash of every stored value (timestamps included)."""
    result = {}
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields]
        rows = model.objects.order_by("pk").values_list(*fields)
        digest = hashlib.sha256(repr(list(rows)).encode()).hexdigest()
        result[model._meta.label] = (len(rows), digest)
    return result


@pytest.mark.django_db(transaction=True)  # paid invoices fulfil orders on commit, as in production
def test_seed_demo_covers_every_state_and_is_idempotent():
    call_command("seed_demo", "--quiet", stdout=io.StringIO())
    first = _fingerprint()

    assert {"draft", "issued", "paid", "void"} <= set(Invoice.objects.values_list("status", flat=True))
    assert any(invoice.is_overdue for invoice in Invoice.objects.filter(status="issued"))
    assert {("payment", "succeeded"), ("payment", "failed"), ("refund", "succeeded")} <= set(
        Payment.objects.values_list("kind", "status")
    )
    assert set(Service.objects.values_list("status", flat=True)) >= {
        "pending", "provisioning", "active", "suspended", "terminated", "failed", "awaiting_stock",
    }  # fmt: skip
    for service_type in ("vps", "game_server", "dedicated", "hosting"):
        assert (
            apps.get_model("catalog", "Price")
            .objects.filter(product__service_type=service_type, currency_id__in=["USD", "EUR", "GBP"])
            .values("currency_id")
            .distinct()
            .count()
            == 3
        )

    out = io.StringIO()
    call_command("seed_demo", "--quiet", stdout=out)
    assert "0 new customer histories" in out.getvalue()
    second = _fingerprint()
    changed = {label for label in first if first[label] != second[label]}
    assert changed == set()


@pytest.mark.django_db
def test_seed_demo_refuses_production(settings):
    from django.core.management.base import CommandError

    settings.IS_PRODUCTION = True
    with pytest.raises(CommandError):
        call_command("seed_demo", "--quiet", stdout=io.StringIO())
