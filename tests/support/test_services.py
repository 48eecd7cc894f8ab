"""Support services: the help desk user link, name/email sync, the mirror and its refresh, staff-reply email."""

import datetime as dt

import pytest
from django.core import mail

from core import clock
from core.accounts.models import Customer
from core.support import services as support
from core.support import tasks
from core.support.models import SupportTicket
from core.support.queries import tickets_for_customer, tickets_for_service
from integrations.supportpal import sandbox
from integrations.supportpal.sandbox import SandboxSupportBackend
from tests.factories import CustomerFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def test_customer_is_linked_to_an_existing_help_desk_user_by_email(customer):
    existing = SandboxSupportBackend().create_user(email=customer.user.email, firstname="A", lastname="L")
    user = support.link_customer(customer)
    assert user.id == existing.id
    assert Customer.objects.get(pk=customer.pk).supportpal_user_id == existing.id
    assert support.link_customer(customer).id == existing.id  # remembered, not searched again


def test_customer_without_help_desk_user_gets_one(customer):
    user = support.link_customer(customer)
    assert (user.email, user.firstname, user.lastname) == (customer.user.email, "Ada", "Lovelace")


def test_name_and_email_changes_are_pushed_to_the_help_desk(customer, django_capture_on_commit_callbacks):
    user = support.link_customer(customer)
    customer.user.first_name, customer.user.email = "Augusta", "augusta@example.com"
    with django_capture_on_commit_callbacks(execute=True):
        customer.user.save()
    synced = sandbox._state()["users"][user.id]
    assert (synced["firstname"], synced["email"]) == ("Augusta", "augusta@example.com")


def test_unlinked_customer_change_calls_nothing(customer, django_capture_on_commit_callbacks):
    customer.user.first_name = "Augusta"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        customer.user.save()
    assert callbacks == []


def test_mirror_refresh_records_tickets_and_their_service(customer):
    service = ServiceFactory(customer=customer)
    ticket = support.open_ticket(customer, department_id="1", subject="Disk", text="Full", service=service)
    SupportTicket.objects.all().delete()
    assert tasks.refresh_all_mirrors() == {"refreshed": 1, "failed": 0, "stopped": False}
    row = SupportTicket.objects.get()
    assert (row.external_id, row.customer, row.service, row.status) == (ticket.id, customer, service,
                                                                         "Awaiting reply")  # fmt: skip
    assert list(tickets_for_service(service)) == [row] and list(tickets_for_customer(customer)) == [row]


def test_a_new_staff_reply_emails_the_customer_once(customer, django_capture_on_commit_callbacks):
    ticket = support.open_ticket(customer, department_id="1", subject="Disk", text="Full")
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=5)):
        SandboxSupportBackend()._add(ticket.id, "Fixed it.", by_staff=True, author="Sam")
        with django_capture_on_commit_callbacks(execute=True):
            support.refresh_customer_mirror(customer)
            support.refresh_customer_mirror(customer)  # the task runs again: no second mail
    (message,) = mail.outbox
    assert message.to == [customer.user.email]
    assert f"#{ticket.number}" in message.subject and f"/support/{ticket.id}/" in message.body
    assert "Fixed it." in message.body


def test_open_ticket_validates_input(customer):
    from core.support.errors import SupportError

    with pytest.raises(SupportError, match="subject"):
        support.open_ticket(customer, department_id="1", subject="  ", text="x")
    with pytest.raises(SupportError, match="department"):
        support.open_ticket(customer, department_id="99", subject="s", text="x")
    with pytest.raises(SupportError, match="own services"):
        support.open_ticket(customer, department_id="1", subject="s", text="x", service=ServiceFactory())
    assert not SupportTicket.objects.exists()


def test_other_customers_ticket_is_not_found(customer):
    from core.support.errors import TicketNotFound

    theirs = support.open_ticket(CustomerFactory(), department_id="1", subject="s", text="x")
    support.link_customer(customer)
    with pytest.raises(TicketNotFound):
        support.get_customer_ticket(customer, theirs.id)
    with pytest.raises(TicketNotFound):
        support.reply_to_ticket(customer, theirs.id, text="hi")
