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


def test_order_received_is_sent_once_per_order(provisioning, django_capture_on_commit_callbacks):
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
