"""Issue 10's browser check: a staff user logs in through the second factor, opens the dashboard,
drills from an MRR movement figure to the customers behind it, opens a customer 360, impersonates
with a typed reason (banner in the portal) and ends it. Screenshots of each step go to
$E2E_OUTPUT_DIR (default /tmp/e2e_admin_journey/)."""

import os
from decimal import Decimal
from pathlib import Path

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.analytics.movement import refresh_mrr_snapshot
from core.audit.models import AuditLog
from tests.factories import CurrencyFactory, CustomerFactory, PriceFactory, StaffUserFactory, SubscriptionFactory

SHOTS = Path(os.environ.get("E2E_OUTPUT_DIR", "/tmp/e2e_admin_journey"))
REASON = "Customer reports the portal shows no services (ticket #5120)"


@pytest.mark.django_db(transaction=True)
def test_staff_drills_from_mrr_movement_to_a_customer_and_impersonates(live_server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    customer = CustomerFactory(currency=usd, company="Northwind Hosting Ltd")
    SubscriptionFactory(customer=customer, price=PriceFactory(currency=usd, amount=Decimal("40.00")))
    refresh_mrr_snapshot()
    staff = StaffUserFactory(email="ops@ezscale.example")
    device = TOTPDevice.objects.create(user=staff, name="default", confirmed=True)

    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url("**/account/login/**")
    page.fill('input[name="auth-username"]', staff.email)
    page.fill('input[name="auth-password"]', "correct horse battery")
    page.click('button[type="submit"]')
    page.wait_for_selector('input[name="token-otp_token"]')
    page.fill('input[name="token-otp_token"]', f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}")
    page.click('button[type="submit"]')

    page.wait_for_selector("#movement-cards")
    page.screenshot(path=str(SHOTS / "1-dashboard.png"), full_page=True)
    page.click('[data-movement="new"]')
    page.wait_for_selector("#result_list")
    page.screenshot(path=str(SHOTS / "2-movement-customers.png"), full_page=True)
    assert "Northwind Hosting Ltd" in page.inner_text("#result_list")

    page.goto(f"{live_server.url}/admin/accounts/customer/{customer.pk}/change/")
    page.wait_for_selector("#customer-summary")
    page.screenshot(path=str(SHOTS / "3-customer-360.png"), full_page=True)
    page.goto(f"{live_server.url}/admin/accounts/customer/{customer.pk}/impersonate/")
    page.fill("#id_reason", REASON)
    page.screenshot(path=str(SHOTS / "4-reason.png"), full_page=True)
    page.click('#impersonate-form button[type="submit"]')

    page.wait_for_selector(".banner-impersonation")
    banner = page.inner_text(".banner-impersonation")
    assert customer.user.email in banner and REASON in banner
    page.screenshot(path=str(SHOTS / "5-portal-as-customer.png"), full_page=True)
    page.click("#end-impersonation")
    page.wait_for_url(f"**/admin/accounts/customer/{customer.pk}/change/")
    page.screenshot(path=str(SHOTS / "6-back-in-admin.png"), full_page=True)

    started = AuditLog.objects.get(action="auth.impersonation_started")
    ended = AuditLog.objects.get(action="auth.impersonation_ended")
    assert started.actor == staff and started.data["reason"] == REASON
    assert ended.data["started_audit_id"] == started.pk
