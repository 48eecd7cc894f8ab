"""The WHMCS support archive in the admin: an imported ticket's message, replies, staff notes and
attachments are readable on its page (escaped), copied attachments download, nothing else does."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from core.support.models import SupportTicket
from core.support.services import archive_entries
from tests.conftest import login_verified
from tests.factories import CustomerFactory, StaffUserFactory

pytestmark = pytest.mark.django_db


def _ticket(number="100", stored="support/whmcs/7/abc_invoice.pdf"):
    default_storage.save(stored, ContentFile(b"%PDF-1.4 archive"))
    raw = {
        "source": "whmcs", "guest": None, "message": "My server is down <script>alert(1)</script>",
        "attachments": [{"file": "abc_invoice.pdf", "name": "invoice.pdf", "stored": stored}],
        "replies": [
            {"id": 2, "date": "2024-03-02 10:00:00", "by": "Alice Admin", "staff": True, "message": "Rebooted it."},
            {"id": 1, "date": "2024-03-01 12:00:00", "by": "Bob", "staff": False, "message": "Still down",
             "attachments": [{"file": "x_log.txt", "name": "log.txt", "stored": None}]},
        ],
        "notes": [{"id": 9, "date": "2024-03-01 13:00:00", "by": "Alice Admin", "message": "Check node 4"}],
    }  # fmt: skip
    return SupportTicket.objects.create(
        customer=CustomerFactory(), external_id=f"whmcs-{number}", number=number, subject="Server down",
        status="Closed", opened_at=dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC), raw=raw,
    )  # fmt: skip


def test_archive_entries_are_in_order_with_the_note_between_replies():
    entries = archive_entries(_ticket())
    assert [(e["kind"], e["date"]) for e in entries] == [
        ("message", "2024-03-01 09:00:00"), ("reply", "2024-03-01 12:00:00"), ("note", "2024-03-01 13:00:00"),
        ("reply", "2024-03-02 10:00:00"),
    ]  # fmt: skip
    assert entries[2]["staff"] and not entries[1]["staff"]


def test_the_ticket_page_shows_the_archive_escaped(staff_client):
    ticket = _ticket()
    page = staff_client.get(reverse("admin:support_supportticket_change", args=[ticket.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "WHMCS archive" in html and "Rebooted it." in html and "Check node 4" in html and "Staff note" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)</script>" not in html
    assert "log.txt (not copied)" in html
    assert html.index("Still down") < html.index("Check node 4") < html.index("Rebooted it.")


def test_a_copied_attachment_downloads_and_nothing_else_does(staff_client):
    ticket = _ticket()
    other = _ticket(number="200", stored="support/whmcs/8/secret.pdf")
    url = reverse("admin:support_supportticket_attachment", args=[ticket.pk])
    response = staff_client.get(url, {"file": "support/whmcs/7/abc_invoice.pdf"})
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 archive"
    assert 'filename="invoice.pdf"' in response["Content-Disposition"]
    # another ticket's file through this ticket, a path outside the archive, nothing asked
    for wanted in ("support/whmcs/8/secret.pdf", "../core/settings.py", ""):
        assert staff_client.get(url, {"file": wanted}).status_code == 404
    assert other.pk != ticket.pk


def test_staff_without_ticket_permission_cannot_download(client):
    ticket = _ticket()
    user = StaffUserFactory(is_superuser=False)
    user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    login_verified(client, user)
    url = reverse("admin:support_supportticket_attachment", args=[ticket.pk])
    response = client.get(url, {"file": "support/whmcs/7/abc_invoice.pdf"})
    assert response.status_code in (403, 404)


def test_a_help_desk_ticket_has_no_archive_field(staff_client):
    ticket = SupportTicket.objects.create(customer=CustomerFactory(), external_id="5501", number="5501",
                                          subject="Billing question", status="open", raw={"operator_url": ""})  # fmt: skip
    html = staff_client.get(reverse("admin:support_supportticket_change", args=[ticket.pk])).content.decode()
    assert "WHMCS archive" not in html
