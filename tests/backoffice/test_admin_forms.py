"""Forms that guard something: connection secrets, frozen invoices, customer 360."""

from decimal import Decimal

from django.db import connection as django_connection
from django.urls import reverse

from core.billing.models import CreditEntry, Invoice
from tests.factories import CurrencyFactory, InvoiceFactory, InvoiceLineFactory, PlatformConnectionFactory

SECRET = "vf-app-key-3f9a77c1d2"


def _connection_post_data(conn, **overrides):
    data = {
        "name": conn.name, "platform": conn.platform, "base_url": conn.base_url, "api_key": "", "api_secret": "",
        "defaults": "{}", "timeout_seconds": "30", "verify_tls": "on", "is_active": "on",
    }  # fmt: skip
    data.update(overrides)
    return data


def test_platform_connection_change_form_never_renders_the_secret(staff_client, db):
    conn = PlatformConnectionFactory(name="vf-1", platform="virtfusion", api_key=SECRET, api_secret="second-" + SECRET)
    response = staff_client.get(reverse("admin:provisioning_platformconnection_change", args=[conn.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert SECRET not in body
    assert "Currently set" in body


def test_platform_connection_list_shows_key_state_not_key(staff_client, db):
    PlatformConnectionFactory(name="vf-1", platform="virtfusion", api_key=SECRET)
    PlatformConnectionFactory(name="ptero", platform="pterodactyl", api_key="")
    body = staff_client.get(reverse("admin:provisioning_platformconnection_changelist")).content.decode()
    assert SECRET not in body
    assert "not set" in body


def test_saving_a_connection_with_empty_secret_keeps_the_stored_one(staff_client, db):
    conn = PlatformConnectionFactory(name="vf-1", platform="virtfusion", api_key=SECRET)
    url = reverse("admin:provisioning_platformconnection_change", args=[conn.pk])
    response = staff_client.post(url, _connection_post_data(conn, timeout_seconds="45"))
    assert response.status_code == 302
    conn.refresh_from_db()
    assert conn.api_key == SECRET
    assert conn.timeout_seconds == 45


def test_a_typed_secret_replaces_and_clear_removes(staff_client, db):
    conn = PlatformConnectionFactory(name="vf-1", platform="virtfusion", api_key=SECRET)
    url = reverse("admin:provisioning_platformconnection_change", args=[conn.pk])
    staff_client.post(url, _connection_post_data(conn, api_key="new-key-123"))
    conn.refresh_from_db()
    assert conn.api_key == "new-key-123"
    with django_connection.cursor() as cursor:  # the column holds ciphertext only
        cursor.execute("SELECT api_key FROM provisioning_platformconnection WHERE id = %s", [conn.pk])
        assert "new-key-123" not in cursor.fetchone()[0]
    staff_client.post(url, _connection_post_data(conn, clear_api_key="on"))
    conn.refresh_from_db()
    assert conn.api_key == ""


def test_issued_invoice_change_form_offers_no_editable_field_or_line(staff_client, db):
    invoice = InvoiceFactory(notes="original")
    InvoiceLineFactory(invoice=invoice, description="VPS 4 GB")
    Invoice.objects.filter(pk=invoice.pk).update(status="issued", number="INV-2026-000001", total=Decimal("10.00"))
    response = staff_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.fields) == []
    line_formset = response.context["inline_admin_formsets"][0].formset
    assert all(not f.fields.get("description") for f in line_formset.forms)
    assert line_formset.max_num == 0 or not response.context["inline_admin_formsets"][0].has_add_permission


def test_issued_invoice_post_changes_nothing(staff_client, db):
    invoice = InvoiceFactory(notes="original")
    Invoice.objects.filter(pk=invoice.pk).update(status="issued", number="INV-2026-000002")
    url = reverse("admin:billing_invoice_change", args=[invoice.pk])
    staff_client.post(url, {"notes": "tampered", "due_date": "2030-01-01"})
    invoice.refresh_from_db()
    assert invoice.notes == "original"
    assert invoice.due_date is None


def test_draft_invoice_is_editable_and_deletable(staff_client, db):
    invoice = InvoiceFactory()
    response = staff_client.get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert "notes" in response.context["adminform"].form.fields
    assert response.context["has_delete_permission"]


def test_customer_360_shows_credit_balance_per_currency_and_tabs(staff_client, admin_world):
    customer = admin_world["customer"]
    eur = CurrencyFactory(code="EUR")
    CreditEntry.objects.create(customer=customer, currency=eur, amount=Decimal("7.50"), reason="manual")
    CreditEntry.objects.create(customer=customer, currency=customer.currency, amount=Decimal("-2.00"), reason="applied")
    response = staff_client.get(reverse("admin:accounts_customer_change", args=[customer.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "EUR 7.50" in body
    assert "USD 3.00" in body  # 5.00 from the world minus 2.00 applied
    for tab in ("Services", "Subscriptions", "Invoices", "Payments", "Credit ledger"):
        assert tab in body
    assert admin_world["invoice"].number in body


def test_impersonation_starts_only_from_the_customer_page_with_a_reason(staff_client, admin_world, staff_user):
    """No one-click hijack button on the user list (it would skip the reason); the customer page
    offers Impersonate, which leads to the reason form."""
    body = staff_client.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert "data-hijack-user" not in body
    customer = admin_world["customer"]
    page = staff_client.get(reverse("admin:accounts_customer_change", args=[customer.pk])).content.decode()
    assert reverse("admin:accounts_customer_impersonate_action", args=[customer.pk]) in page
