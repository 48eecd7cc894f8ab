"""Issue 12: each catalogue event is sent by the code where its trigger happens, once per key."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail

from core import clock
from core.notifications.models import Notification
from tests.billing.conftest import provisioning  # noqa: F401  (fixture)
from tests.factories import CustomerFactory, PriceFactory

D = Decimal
pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 4, 10, 12, tzinfo=dt.UTC)


def _sent(event):
    subjects = {(n.recipient, n.subject) for n in Notification.objects.filter(event=event)}
    return [m for m in mail.outbox if (m.to[0], m.subject) in subjects]


def _rows(event):
    return list(Notification.objects.filter(event=event))


@pytest.mark.usefixtures("provisioning")
def test_order_received_is_sent_once_per_order(django_capture_on_commit_callbacks):
    from core.billing.services import orders

    customer = CustomerFactory()
    price = PriceFactory(currency=customer.currency, amount=D("20.00"), product__name="VPS Large")
    with clock.frozen_at(NOW), django_capture_on_commit_callbacks(execute=True):
        order = orders.place_order(customer, [{"price": price, "hostname": "web1"}])
    (row,) = _rows("order_received")
    assert row.recipient == customer.user.email and row.status == Notification.Status.SENT
    assert len(_sent("order_received")) == 1
    assert f"#{order.pk}" in row.subject and "VPS Large" in row.text_body
    with django_capture_on_commit_callbacks(execute=True):
        orders._email_order_received(order, order.invoice)  # the same order again: nothing more
    assert len(_rows("order_received")) == 1 and len(_sent("order_received")) == 1


def _issued_invoice(due: dt.date, amount="50.00"):
    from core.billing.services import invoices

    customer = CustomerFactory(auto_apply_credit=False)
    draft = invoices.create_draft_invoice(customer, lines=[{"description": "VPS Small", "unit_amount": D(amount)}])
    return invoices.issue_invoice(draft, due_date=due, email=False)


def test_invoice_reminder_once_within_the_window_before_due(settings, django_capture_on_commit_callbacks):
    from core.billing.services import reminders

    settings.BILLING = {**settings.BILLING, "REMINDER_DAYS_BEFORE_DUE": 3}
    today = dt.date(2026, 4, 10)
    invoice = _issued_invoice(today + dt.timedelta(days=3))
    later = _issued_invoice(today + dt.timedelta(days=4))  # outside the window: not yet
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_due_reminders(today - dt.timedelta(days=1)) == 0
        assert reminders.send_due_reminders(today) == 1
    (row,) = _rows("invoice_reminder")
    assert row.recipient == invoice.customer.user.email and invoice.number in row.subject
    assert later.customer.user.email != row.recipient
    assert len(_sent("invoice_reminder")) == 1
    with django_capture_on_commit_callbacks(execute=True):  # the next days' runs: nothing more for this invoice
        assert reminders.send_due_reminders(today) == 0
        assert reminders.send_due_reminders(today + dt.timedelta(days=1)) == 1  # `later` enters the window
    assert len(_sent("invoice_reminder")) == 2


def test_paid_invoice_gets_no_reminder_or_overdue_notice(django_capture_on_commit_callbacks):
    from core.billing.services import payments, reminders

    today = dt.date(2026, 4, 10)
    invoice = _issued_invoice(today + dt.timedelta(days=2))
    payments.record_payment(invoice, amount=invoice.amount_due, gateway="manual", gateway_transaction_id="p1")
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_invoice_notices(today) == {"reminders": 0, "overdue_notices": 0}
        assert reminders.send_invoice_notices(today + dt.timedelta(days=5))["overdue_notices"] == 0


def test_overdue_notice_once_per_step(settings, django_capture_on_commit_callbacks):
    from core.billing.services import reminders

    settings.BILLING = {**settings.BILLING, "OVERDUE_NOTICE_DAYS": [1, 7, 14]}
    due = dt.date(2026, 4, 1)
    invoice = _issued_invoice(due)
    with django_capture_on_commit_callbacks(execute=True):
        counts = [reminders.send_overdue_notices(due + dt.timedelta(days=n)) for n in range(25)]
        assert reminders.send_overdue_notices(due + dt.timedelta(days=7)) == 0  # a rerun of a step's day
    assert sum(counts) == 3 and counts[1] == counts[7] == counts[14] == 1
    rows = _rows("overdue_notice")
    assert {r.dedupe_key for r in rows} == {f"overdue_notice:{invoice.uuid}:{s}" for s in (1, 2, 3)}
    assert all(r.recipient == invoice.customer.user.email for r in rows)
    assert "Final notice" in next(r.subject for r in rows if r.dedupe_key.endswith(":3"))
    assert len(_sent("overdue_notice")) == 3


def test_missed_runs_send_only_the_latest_step_and_old_debts_nothing(django_capture_on_commit_callbacks):
    from core.billing.services import reminders

    due = dt.date(2026, 4, 1)
    _issued_invoice(due)
    _issued_invoice(dt.date(2025, 1, 1))  # long overdue (e.g. imported): never mailed
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.send_overdue_notices(due + dt.timedelta(days=9)) == 1
    assert [r.dedupe_key.rsplit(":", 1)[1] for r in _rows("overdue_notice")] == ["2"]


def test_daily_billing_task_sends_the_notices(provisioning_free_run, django_capture_on_commit_callbacks):
    from core.billing import tasks

    invoice = _issued_invoice(dt.date(2026, 4, 12))
    with clock.frozen_at(NOW), django_capture_on_commit_callbacks(execute=True):
        result = tasks.daily_billing_run()
    assert result["notices"]["reminders"] == 1
    assert _rows("invoice_reminder")[0].recipient == invoice.customer.user.email


@pytest.fixture
def provisioning_free_run(request):
    request.getfixturevalue("provisioning")


def test_service_terminated_once_when_termination_is_confirmed(django_capture_on_commit_callbacks):
    from core.provisioning.services.actions import terminate_service
    from tests.factories import ServiceFactory

    service = ServiceFactory(connection=None, product__name="VPS Large")  # staff-fulfilled: applied at once
    with django_capture_on_commit_callbacks(execute=True):
        terminate_service(service, reason="Cancelled at the end of the period")
    service.refresh_from_db()
    assert service.status == "terminated"
    (row,) = _rows("service_terminated")
    assert row.recipient == service.customer.user.email and "VPS Large" in row.subject
    with django_capture_on_commit_callbacks(execute=True):
        terminate_service(service, reason="again")
    assert len(_rows("service_terminated")) == 1 and len(_sent("service_terminated")) == 1


def _running_sub(amount="30.00", name="VPS Medium"):
    from core.billing.services import subscriptions

    customer = CustomerFactory(auto_apply_credit=False)
    price = PriceFactory(currency=customer.currency, amount=D(amount), product__name=name)
    return subscriptions.start_subscription(customer, price, start=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))


@pytest.mark.usefixtures("provisioning")
def test_plan_changed_once_per_change(django_capture_on_commit_callbacks):
    from core.billing.services import proration

    sub = _running_sub("30.00")
    bigger = PriceFactory(currency=sub.currency, amount=D("60.00"), product__name="VPS Large")
    with clock.frozen_at(dt.datetime(2026, 4, 16, tzinfo=dt.UTC)), django_capture_on_commit_callbacks(execute=True):
        result = proration.change_plan(sub, bigger)
        with pytest.raises(Exception):  # noqa: B017 - the same change again is refused: nothing more is sent
            proration.change_plan(sub, bigger)
    (row,) = _rows("plan_changed")
    assert row.recipient == sub.customer.user.email and "VPS Large" in row.subject
    assert result.invoice is not None and len(_sent("plan_changed")) == 1


@pytest.mark.usefixtures("provisioning")
def test_subscription_cancelled_once_per_cancellation(django_capture_on_commit_callbacks):
    from core.billing.services import subscriptions

    sub = _running_sub(name="VPS Large")
    with clock.frozen_at(dt.datetime(2026, 4, 10, tzinfo=dt.UTC)), django_capture_on_commit_callbacks(execute=True):
        subscriptions.cancel_subscription(sub, reason="other")
        subscriptions.cancel_subscription(sub, reason="too_expensive")  # asked again: still one confirmation
    with clock.frozen_at(dt.datetime(2026, 4, 11, tzinfo=dt.UTC)), django_capture_on_commit_callbacks(execute=True):
        subscriptions.cancel_subscription(sub)
    (row,) = _rows("subscription_cancelled")
    assert row.recipient == sub.customer.user.email and "VPS Large" in row.subject
    assert len(_sent("subscription_cancelled")) == 1


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def _login(user, ip, agent):
    from django.contrib.auth import login
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    request = RequestFactory().get("/", REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)
    request.session = SessionStore()
    request.user = user
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")


def test_new_login_only_from_an_unseen_device_and_never_on_the_first_login(django_capture_on_commit_callbacks):
    user = CustomerFactory().user
    with django_capture_on_commit_callbacks(execute=True):
        _login(user, "198.51.100.1", FIREFOX)  # first login after sign-up: nothing
        _login(user, "198.51.100.1", FIREFOX)  # the same browser again: nothing
    assert _rows("new_login") == []
    with django_capture_on_commit_callbacks(execute=True):
        _login(user, "203.0.113.7", CHROME)  # new device
        _login(user, "203.0.113.7", CHROME)  # the same new device again: nothing more
    (row,) = _rows("new_login")
    assert row.recipient == user.email and "203.0.113.7" in row.text_body and "Chrome on Windows" in row.text_body
    assert len(_sent("new_login")) == 1


def test_portal_password_reset_goes_through_the_outbox_once_per_link(client, django_capture_on_commit_callbacks):
    from django.urls import reverse

    user = CustomerFactory().user
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal:password_reset"), {"email": user.email})
    assert response.status_code == 302
    (row,) = _rows("password_reset")
    assert row.recipient == user.email and "/password-reset/" in row.text_body
    assert len(_sent("password_reset")) == 1


@pytest.fixture
def usd():
    from tests.factories import CurrencyFactory

    return CurrencyFactory(code="USD")


def _alerts():
    return list(Notification.objects.filter(channel=Notification.Channel.DISCORD, subject="Suspicious sign-up"))


@pytest.mark.usefixtures("usd")
def test_suspicious_signup_alert_for_a_disposable_domain_once(settings, django_capture_on_commit_callbacks):
    from core.accounts.services import sign_up_customer

    settings.DISCORD_WEBHOOKS = {"security": "https://discord.com/api/webhooks/1/security"}
    with django_capture_on_commit_callbacks(execute=False):
        customer = sign_up_customer(email="x@mailinator.com", password="a long phrase 4 tests", ip_address="192.0.2.1")
        sign_up_customer(email="ada@example.com", password="a long phrase 4 tests", ip_address="192.0.2.2")
    (alert,) = _alerts()
    assert alert.recipient == "discord:security" and "disposable" in alert.text_body
    assert alert.dedupe_key == f"suspicious_signup:{customer.user_id}"
    from core.accounts.signup_checks import alert_if_suspicious

    alert_if_suspicious(customer, email="x@mailinator.com", ip_address=None)  # again: nothing more
    assert len(_alerts()) == 1


@pytest.mark.usefixtures("usd")
def test_suspicious_signup_alert_when_one_ip_signs_up_too_often(settings):
    from django.core.cache import cache

    from core.accounts.services import sign_up_customer

    cache.clear()
    settings.DISCORD_WEBHOOKS = {"security": "https://discord.com/api/webhooks/1/security"}
    settings.SIGNUP_MAX_PER_IP_PER_HOUR = 2
    with clock.frozen_at(NOW):
        for n in range(3):
            sign_up_customer(email=f"user{n}@example.com", password="a long phrase 4 tests", ip_address="192.0.2.9")
        sign_up_customer(email="other@example.com", password="a long phrase 4 tests", ip_address="192.0.2.10")
    (alert,) = _alerts()
    assert "user2@example.com" in alert.text_body and "3 sign-ups from 192.0.2.9" in alert.text_body
    with clock.frozen_at(NOW + dt.timedelta(hours=1)):  # a new hour starts a new count
        sign_up_customer(email="user9@example.com", password="a long phrase 4 tests", ip_address="192.0.2.9")
    assert len(_alerts()) == 1


@pytest.mark.usefixtures("usd")
def test_staff_made_accounts_are_never_flagged(settings, staff_user):
    from core.accounts.services import sign_up_customer

    settings.DISCORD_WEBHOOKS = {"security": "https://discord.com/api/webhooks/1/security"}
    sign_up_customer(email="y@yopmail.com", password=None, actor=staff_user, ip_address="192.0.2.1")
    assert _alerts() == []
