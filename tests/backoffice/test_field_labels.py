"""Field labels read as staff write them: "WHMCS ID", "Address line 1", "Primary IP", never "Whmcs id"."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils.text import capfirst

from backoffice.admin.labels import form_labels, readable_label
from core.accounts.models import Customer
from core.billing.models import PaymentMethod, TaxRate
from core.catalog.models import Price, Product
from core.provisioning.models import PlatformConnection, Service
from core.usage.models import BandwidthPeriod


@pytest.mark.parametrize(
    ("model", "name", "label"),
    [(Service, "primary_ip", "Primary IP"), (Service, "uuid", "UUID"), (Service, "whmcs_id", "WHMCS ID"),
     (TaxRate, "is_eu_vat", "EU VAT"), (TaxRate, "is_active", "Active"), (PaymentMethod, "exp_month", "Expiry month"),
     (PaymentMethod, "last4", "Last 4 digits"), (PlatformConnection, "base_url", "Base URL"),
     (PlatformConnection, "verify_tls", "Verify TLS"), (PlatformConnection, "last_check_ok", "Last check OK")],
)  # fmt: skip
def test_readable_label_fixes_generated_labels(model, name, label):
    assert readable_label(model._meta.get_field(name)) == label


def test_readable_label_keeps_labels_that_read_well_or_were_chosen():
    assert readable_label(Service._meta.get_field("hostname")) is None
    assert readable_label(Customer._meta.get_field("region")) is None  # "State / region", chosen by the model
    assert "hostname" not in form_labels(Service)


@pytest.mark.parametrize(
    ("model", "name", "label"),
    [(Customer, "address_line1", "Address line 1"), (Customer, "vat_id", "VAT ID"), (Customer, "whmcs_id", "WHMCS ID"),
     (Customer, "supportpal_user_id", "SupportPal user ID"), (Product, "cpu_cores", "CPU cores"),
     (Product, "ram_mb", "RAM (MB)"), (Price, "paypal_plan_id", "PayPal plan ID"),
     (BandwidthPeriod, "alert_75_sent_at", "75% alert sent at")],
)  # fmt: skip
def test_models_of_our_apps_carry_their_labels(model, name, label):
    assert capfirst(model._meta.get_field(name).verbose_name) == label


def _badly_generated_labels(models) -> set[str]:
    """The labels Django would generate for these models' fields where we want another one."""
    bad = set()
    for model in models:
        for field in model._meta.concrete_fields:
            generated = capfirst(field.name.replace("_", " "))
            if readable_label(field) is not None or capfirst(str(field.verbose_name)) != generated:
                bad.add(generated)
    return bad


REGISTERED = sorted(
    ((m, a) for m, a in admin.site._registry.items() if m._meta.app_label in {"accounts", "catalog", "billing",
     "provisioning", "usage", "support", "audit", "notifications"}),
    key=lambda item: item[0]._meta.label,
)  # fmt: skip


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=[m._meta.label for m, _ in REGISTERED])
def test_admin_pages_show_no_badly_generated_label(staff_client, admin_world, model, model_admin):
    bad = _badly_generated_labels([model] + [inline.model for inline in model_admin.inlines])
    obj = model.objects.order_by("pk").first()
    url_name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    pages = [reverse(f"{url_name}_changelist")] + ([reverse(f"{url_name}_change", args=[obj.pk])] if obj else [])
    for url in pages:
        html = staff_client.get(url).content.decode()
        # Labels and column headers: the text of <label> and <th> elements.
        texts = {" ".join(t.split()) for t in re.findall(r"<(?:label|th)\b[^>]*>(.*?)</(?:label|th)>", html, re.S)}
        texts = {re.sub(r"<[^>]+>", "", t).strip().rstrip(":").strip() for t in texts}
        assert not (texts & bad), f"{url}: {sorted(texts & bad)}"


def test_service_page_reads_primary_ip_and_uuid(staff_client, admin_world):
    html = staff_client.get(reverse("admin:provisioning_service_change", args=[admin_world["service"].pk])).content
    page = html.decode()
    assert "Primary IP" in page and "Primary ip" not in page
    assert "UUID" in page and "Uuid" not in page
