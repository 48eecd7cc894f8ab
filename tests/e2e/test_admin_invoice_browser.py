"""A real browser: staff open an issued invoice, record a bank transfer through the action dialog
and see the invoice paid, with the payment in the audit log.

Screenshots land in /tmp/admin_invoice_*.png for a human to look at.
"""

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client

from core.audit.models import AuditLog
from core.billing.models import Invoice
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from tests.conftest import login_verified
from tests.factories import CurrencyFactory, CustomerFactory, StaffUserFactory


def staff_page(browser, live_server):
    """A page signed in as a staff member with a verified second factor (the wizard has its own test)."""
    user = StaffUserFactory(email="billing@ezscale.example")
    client = login_verified(Client(), user)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
          "url": live_server.url}]
    )  # fmt: skip
    return context.new_page()


@pytest.mark.django_db(transaction=True)
def test_staff_records_a_bank_transfer_in_the_dialog_and_sees_the_invoice_paid(live_server, browser, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""
    eur = CurrencyFactory(code="EUR")
    customer = CustomerFactory(currency=eur, company="Wire Transfer GmbH", auto_apply_credit=False)
    draft = create_draft_invoice(
        customer, lines=[{"description": "Dedicated server, November", "quantity": Decimal("1"),
                          "unit_amount": Decimal("120.00")}]
    )  # fmt: skip
    invoice = issue_invoice(draft, email=False)
    page = staff_page(browser, live_server)

    page.goto(f"{live_server.url}/admin/billing/invoice/{invoice.pk}/change/")
    # An issued invoice offers payment actions, not "Issue", and no save buttons (it is read-only).
    assert page.locator("a:has-text('Record bank transfer')").is_visible()
    assert page.locator("a:text-is('Issue')").count() == 0
    assert page.locator("button[name='_save']").count() == 0
    # With only the actions that apply, the breadcrumb keeps its place and shows the number.
    assert page.get_by_text(invoice.number, exact=True).first.is_visible()
    page.screenshot(path="/tmp/admin_invoice_issued.png", full_page=True)

    page.click("a:has-text('Record bank transfer')")
    # The dialog's inputs must be visible to a person: fill() waits for visibility and fails otherwise.
    page.fill("#dialog input[name='amount']", str(invoice.amount_due))
    page.fill("#dialog input[name='reference']", "SEPA-2026-1107")
    page.screenshot(path="/tmp/admin_invoice_dialog.png")
    page.click("#dialog button[type='submit']")

    page.wait_for_selector("text=Recorded EUR 120.00 (reference SEPA-2026-1107)")
    page.screenshot(path="/tmp/admin_invoice_paid.png", full_page=True)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.amount_paid == invoice.total
    # The dialog closed and the whole page reloaded (a plain redirect used to leave an empty dialog).
    assert page.locator("#dialog input[name='reference']").count() == 0
    assert page.get_by_text("Paid", exact=True).first.is_visible()
    # Paid: no more payment actions on the bar.
    assert page.locator("a:has-text('Record bank transfer')").count() == 0
    payment = invoice.payments.get()
    assert payment.reference == "SEPA-2026-1107"
    assert AuditLog.objects.filter(action="payment.record", actor__email="billing@ezscale.example").exists()

    page.goto(f"{live_server.url}/admin/audit/auditlog/")
    assert "payment.record" in page.inner_text("#result_list")
