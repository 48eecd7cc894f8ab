"""Portal support pages: list with status and last reply, open, reply, new ticket about a service;
another customer's ticket answers 404; a help desk that is down shows a message, never a broken page."""

import pytest
from django.urls import reverse

from core.support import services as support
from core.support.errors import SupportUnavailable
from core.support.models import SupportTicket
from integrations.supportpal.sandbox import SandboxSupportBackend
from tests.factories import CustomerFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def _open(customer, subject="VPS down", service=None):
    return support.open_ticket(customer, department_id="1", subject=subject, text="It does not boot.", service=service)


def test_list_shows_status_and_last_reply(customer_client, customer):
    ticket = _open(customer)
    response = customer_client.get(reverse("portal:ticket_list"))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"#{ticket.number}" in page and "VPS down" in page
    assert "Awaiting reply" in page and "our team" in page  # the sandbox operator answered


def test_new_ticket_about_a_service_is_opened_and_mirrored(customer_client, customer):
    service = ServiceFactory(customer=customer)
    ServiceFactory()  # someone else's service is not offered
    page = customer_client.get(reverse("portal:ticket_new")).content.decode()
    assert str(service) in page and page.count('<option value="') == 3 + 2  # 3 departments, none + 1 service
    response = customer_client.post(reverse("portal:ticket_new"), {
        "department": "2", "service": str(service.pk), "subject": "Invoice question", "text": "Why two lines?",
    })  # fmt: skip
    mirror = SupportTicket.objects.get(customer=customer)
    assert response.status_code == 302 and response.url == reverse("portal:ticket_detail", args=[mirror.external_id])
    assert (mirror.service, mirror.department, mirror.subject) == (service, "Billing", "Invoice question")
    assert SandboxSupportBackend().get_ticket(mirror.external_id).service_ref == str(service.pk)


def test_new_ticket_refuses_another_customers_service(customer_client, customer):
    other = ServiceFactory()
    response = customer_client.post(reverse("portal:ticket_new"), {
        "department": "1", "service": str(other.pk), "subject": "x", "text": "y",
    })  # fmt: skip
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not SupportTicket.objects.exists()


def test_detail_shows_the_thread_and_a_reply_is_sent(customer_client, customer):
    ticket = _open(customer)
    url = reverse("portal:ticket_detail", args=[ticket.id])
    page = customer_client.get(url).content.decode()
    assert "It does not boot." in page and "automatic reply" in page
    response = customer_client.post(url, {"text": "Still down after the reboot."})
    assert response.status_code == 302
    thread = SandboxSupportBackend().messages(ticket.id)
    assert thread[-1].text == "Still down after the reboot." and not thread[-1].by_staff


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_customers_ticket_is_404_and_nothing_is_sent(customer_client, customer, method):
    _open(customer)
    theirs = _open(CustomerFactory(), subject="Their secret ticket")
    before = len(SandboxSupportBackend().messages(theirs.id))
    url = reverse("portal:ticket_detail", args=[theirs.id])
    response = getattr(customer_client, method)(url, {"text": "hi"} if method == "post" else None)
    assert response.status_code == 404
    assert len(SandboxSupportBackend().messages(theirs.id)) == before
    assert not SupportTicket.objects.filter(external_id=theirs.id, customer=customer).exists()


def test_unknown_ticket_is_404(customer_client, customer):
    _open(customer)
    assert customer_client.get(reverse("portal:ticket_detail", args=[999999])).status_code == 404


def test_help_desk_down_shows_a_message_on_every_page(customer_client, customer, monkeypatch):
    def down(*args, **kwargs):
        raise SupportUnavailable("Our help desk cannot be reached right now. Please try again in a few minutes.")

    for name in ("list_tickets", "get_ticket", "departments", "find_user_by_email", "create_user"):
        monkeypatch.setattr(SandboxSupportBackend, name, down)
    for url in (reverse("portal:ticket_list"), reverse("portal:ticket_new"),
                reverse("portal:ticket_detail", args=[1001])):  # fmt: skip
        response = customer_client.get(url)
        assert response.status_code in (200, 404), url
        if response.status_code == 200:
            assert "cannot be reached" in response.content.decode()


def test_not_configured_help_desk_shows_a_message(customer_client, settings):
    settings.SUPPORT_BACKEND = ""
    response = customer_client.get(reverse("portal:ticket_list"))
    assert response.status_code == 200 and "not set up" in response.content.decode()


def test_sso_without_simpleauth_says_so(customer_client):
    response = customer_client.post(reverse("portal:ticket_sso"))
    assert response.status_code == 302 and response.url == reverse("portal:ticket_list")
