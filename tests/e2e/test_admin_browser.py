"""A real browser signs a staff member in through the TOTP wizard and sees the dashboard."""

from decimal import Decimal
from pathlib import Path

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import (
    CurrencyFactory,
    CustomerFactory,
    PaymentFactory,
    PriceFactory,
    ServiceFactory,
    StaffUserFactory,
    SubscriptionFactory,
)

SCREENSHOT = Path("/tmp/admin_dashboard.png")


@pytest.mark.django_db(transaction=True)
def test_staff_signs_in_with_totp_and_sees_the_dashboard(live_server, browser):
    usd = CurrencyFactory(code="USD", exchange_rate=Decimal("1"))
    SubscriptionFactory(
        customer=CustomerFactory(currency=usd), price=PriceFactory(currency=usd, amount=Decimal("25.00"))
    )
    PaymentFactory(customer=CustomerFactory(currency=usd), amount=Decimal("25.00"))
    ServiceFactory(status="active")
    ServiceFactory(status="suspended")
    user = StaffUserFactory(email="ops@ezscale.example")
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)

    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_url("**/account/login/**")
    page.fill('input[name="auth-username"]', "ops@ezscale.example")
    page.fill('input[name="auth-password"]', "correct horse battery")
    page.click('button[type="submit"]')

    page.wait_for_selector('input[name="token-otp_token"]')
    code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    page.fill('input[name="token-otp_token"]', f"{code:06d}")
    page.click('button[type="submit"]')

    page.wait_for_selector("#kpi-cards")
    page.wait_for_timeout(500)  # let Chart.js finish its animation before the screenshot
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert page.url.rstrip("/").endswith("/admin")
    text = page.inner_text("#dashboard")
    assert "MRR (converted to USD)" in text
    assert "USD 25.00" in text
    assert page.locator("canvas.chart").count() >= 3  # revenue, services by status, MRR movement, ...
    assert SCREENSHOT.stat().st_size > 10_000
