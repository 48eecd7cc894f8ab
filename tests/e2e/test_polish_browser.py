"""A real browser over the polish pass: the customer 360 summary, the invoice tax table, portal PDF downloads.

Screenshots land in /tmp/polish_e2e_*.png for a human to look at.
"""

from decimal import Decimal
from pathlib import Path

import pytest

from core.billing.models import Invoice
from core.billing.services.invoices import create_draft_invoice, issue_invoice
from tests.e2e.test_admin_invoice_browser import staff_page  # noqa: F401 (fixture)
from tests.e2e.test_portal_payments_browser import log_in
from tests.factories import CurrencyFactory, CustomerFactory, ServiceFactory


@pytest.fixture
def quiet(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DISCORD_WEBHOOK_URL = ""


def _taxed_invoice(customer) -> Invoice:
    draft = create_draft_invoice(
        customer, lines=[{"description": "VPS 8 GB, December", "quantity": Decimal("1"), "unit_amount": Decimal("40")}]
    )
    invoice = issue_invoice(draft, email=False)
    # A 20% rate as the tax service stores it (the PDF once printed it as 2E+1%).
    Invoice.objects.filter(pk=invoice.pk).update(
        tax_breakdown=[{"name": "TVA", "rate": "20.000", "base": "40.00", "tax": "8.00"}]
    )
    return invoice


@pytest.mark.django_db(transaction=True)
def test_staff_see_the_customer_summary_and_the_invoice_tax_table(live_server, browser, quiet):  # noqa: F811
    customer = CustomerFactory(currency=CurrencyFactory(code="EUR"), company="Summary SARL", country="FR")
    invoice = _taxed_invoice(customer)
    ServiceFactory(customer=customer, status="active")
    ServiceFactory(customer=customer, status="suspended")
    page = staff_page(browser, live_server)

    page.goto(f"{live_server.url}/admin/accounts/customer/{customer.pk}/change/")
    summary = page.locator("#customer-summary")
    assert summary.is_visible()
    assert summary.get_by_text("Open balance").is_visible()
    assert summary.get_by_text("EUR 40.00").first.is_visible()
    assert summary.locator("#customer-summary-services").get_by_text("1 Suspended").is_visible()
    page.screenshot(path="/tmp/polish_e2e_customer.png", full_page=False)

    page.goto(f"{live_server.url}/admin/billing/invoice/{invoice.pk}/change/")
    table = page.locator("table:has(th:has-text('Taxable amount'))")
    assert table.is_visible()
    row = table.locator("tbody tr").first.inner_text()
    assert "TVA" in row and "20%" in row and "EUR 8.00" in row
    page.screenshot(path="/tmp/polish_e2e_invoice.png", full_page=True)


@pytest.mark.django_db(transaction=True)
def test_customer_downloads_an_invoice_pdf_from_the_portal(live_server, browser, quiet):  # noqa: F811
    customer = CustomerFactory(user__email="pdf@example.com")
    invoice = _taxed_invoice(customer)
    page = browser.new_context(accept_downloads=True).new_page()
    log_in(page, live_server.url, "pdf@example.com")

    page.goto(f"{live_server.url}/billing/invoices/")
    with page.expect_download() as download:
        page.click("a:text-is('PDF')")
    assert download.value.suggested_filename == f"{invoice.number}.pdf"
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    page.screenshot(path="/tmp/polish_e2e_portal.png")
