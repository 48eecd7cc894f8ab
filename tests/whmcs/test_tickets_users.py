"""WHMCS tickets' staff notes and attachments, and WHMCS 8 users who are not their client's owner."""

import pytest
from django.contrib.auth.hashers import check_password
from django.core.files.storage import default_storage

from core.accounts.models import Contact, Customer
from core.imports.models import ImportedClientUser
from core.support.models import SupportTicket
from integrations.whmcs.importer import import_whmcs
from tests.whmcs.source_db import insert, md5_salted, php_bcrypt

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db]
STEPS = ["currencies", "clients", "contacts", "users", "tickets"]
HELPER_PASSWORD = 'Hélène\'s "pass" ü'
FILES = {
    "123456_screenshot.png": b"\x89PNG fake image",
    "654321_server log.txt": b"kernel: oops\n",
    "222222_reply.txt": b"reply attachment",
    "333333_note.txt": b"staff-only attachment",
}


@pytest.fixture(scope="module")
def source(whmcs_source):
    """Attachments on tickets 1 and 3, on reply 1 (ticket 2) and on a staff note of ticket 1; ticket 2's
    attachment was removed in WHMCS; 444444_missing.bin is not in the attachments folder.
    Users: 101 (bcrypt) is a non-owner of clients 1 (may see invoices) and 7; 102 has a bad email;
    103 is the only (non-owner) user of client 6, so it is that client's login."""
    conn = whmcs_source["conn"]
    cur = conn.cursor()
    cur.execute("UPDATE tbltickets SET attachment = '123456_screenshot.png|654321_server log.txt' WHERE id = 1")
    cur.execute("UPDATE tbltickets SET attachment = '111111_gone.pdf', attachments_removed = 1 WHERE id = 2")
    cur.execute("UPDATE tbltickets SET attachment = '444444_missing.bin' WHERE id = 3")
    cur.execute("UPDATE tblticketreplies SET attachment = '222222_reply.txt' WHERE id = 1")
    cur.close()
    insert(conn, "tblticketnotes", [
        {"id": 1, "ticketid": 1, "admin": "Alice Admin", "date": "2024-01-03 10:00:00",
         "message": "VIP – handle with care", "attachments": "333333_note.txt", "attachments_removed": 0},
        {"id": 2, "ticketid": 4, "admin": "Bob Admin", "date": "2024-04-03 10:00:00", "message": "Refund agreed",
         "attachments": "", "attachments_removed": 0},
    ])  # fmt: skip
    insert(conn, "tblusers", [
        {"id": 101, "first_name": "Hélène", "last_name": "Helper", "email": "Helper@Example.com",
         "password": php_bcrypt(HELPER_PASSWORD), "email_verified_at": "2023-05-05 10:00:00"},
        {"id": 102, "first_name": "Bad", "last_name": "Email", "email": "not an email",
         "password": md5_salted("x", "salt")},
        {"id": 103, "first_name": "Sole", "last_name": "User", "email": "sole@example.com",
         "password": md5_salted("sole-pass", "ab1")},
    ])  # fmt: skip
    insert(conn, "tblusers_clients", [
        {"id": 201, "auth_user_id": 101, "client_id": 1, "owner": 0, "permissions": "profile,invoices,tickets"},
        {"id": 202, "auth_user_id": 101, "client_id": 7, "owner": 0, "permissions": "tickets"},
        {"id": 203, "auth_user_id": 102, "client_id": 1, "owner": 0, "permissions": "invoices"},
        {"id": 204, "auth_user_id": 103, "client_id": 6, "owner": 0, "permissions": "invoices"},
    ])  # fmt: skip
    return whmcs_source


@pytest.fixture
def attachments_dir(tmp_path):
    folder = tmp_path / "whmcs-attachments"
    folder.mkdir()
    for name, content in FILES.items():
        (folder / name).write_bytes(content)
    return folder


def ticket(whmcs_id: int) -> SupportTicket:
    return SupportTicket.objects.get(external_id=f"whmcs-{whmcs_id}")


def test_ticket_notes_and_attachment_names_come_over_and_are_reported_once(source):
    report = import_whmcs(source["url"], batch_size=2, only=STEPS)

    first = ticket(1).raw
    assert [a["file"] for a in first["attachments"]] == ["123456_screenshot.png", "654321_server log.txt"]
    assert [a["name"] for a in first["attachments"]] == ["screenshot.png", "server log.txt"]
    assert all(a["stored"] is None for a in first["attachments"])
    assert first["notes"] == [
        {"id": 1, "date": "2024-01-03 10:00:00", "by": "Alice Admin", "message": "VIP – handle with care",
         "attachments": [{"file": "333333_note.txt", "name": "note.txt", "stored": None}]},
    ]  # fmt: skip
    assert ticket(4).raw["notes"][0]["message"] == "Refund agreed"
    assert "notes" not in ticket(3).raw
    assert ticket(2).raw["attachments"] == [
        {"file": "111111_gone.pdf", "name": "gone.pdf", "stored": None, "removed": True}
    ]
    reply = next(r for r in ticket(2).raw["replies"] if r["id"] == 1)
    assert reply["attachments"] == [{"file": "222222_reply.txt", "name": "reply.txt", "stored": None}]
    assert report.tables["tblticketnotes"].read == 2
    # The names are listed once, as one note (2 + 1 + 1 + 1 kept as names; the removed one is not counted).
    notes = [n for n in report.notes if "ticket attachment" in n]
    assert len(notes) == 1 and notes[0].startswith("5 ticket attachment(s) kept as WHMCS file names only")
    assert "--attachments-dir" in notes[0]


def test_attachments_dir_copies_the_files_into_our_storage_once(source, attachments_dir):
    report = import_whmcs(source["url"], batch_size=2, only=STEPS, attachments_dir=str(attachments_dir))

    shot = ticket(1).raw["attachments"][0]
    assert shot["stored"] == "support/whmcs/1/123456_screenshot.png"
    with default_storage.open(shot["stored"]) as handle:
        assert handle.read() == FILES["123456_screenshot.png"]
    note_file = ticket(1).raw["notes"][0]["attachments"][0]["stored"]
    assert default_storage.open(note_file).read() == FILES["333333_note.txt"]
    reply = next(r for r in ticket(2).raw["replies"] if r["id"] == 1)
    assert reply["attachments"][0]["stored"] == "support/whmcs/2/222222_reply.txt"
    # The removed one is not looked for; the missing one is reported and kept as a name.
    assert ticket(2).raw["attachments"][0]["stored"] is None
    assert ticket(3).raw["attachments"][0]["stored"] is None
    issue = next(i for i in report.issues if i.table == "tbltickets.attachment")
    assert (issue.whmcs_id, issue.action) == ("3:444444_missing.bin", "skipped")
    assert report.tables["tbltickets.attachment"].imported == 4
    assert not [n for n in report.notes if "ticket attachment" in n]

    # A rerun copies nothing and writes no ticket.
    report = import_whmcs(source["url"], batch_size=2, only=STEPS, attachments_dir=str(attachments_dir))
    assert report.tables["tbltickets.attachment"].imported == 0
    assert (report.tables["tbltickets"].imported, report.tables["tbltickets"].updated) == (0, 0)
    files = sorted(default_storage.listdir("support/whmcs/1")[1])
    assert files == ["123456_screenshot.png", "333333_note.txt", "654321_server log.txt"]


def test_an_attachment_name_cannot_reach_outside_the_folder(source, attachments_dir, tmp_path):
    (tmp_path / "secret.txt").write_text("not for us")
    cur = source["conn"].cursor()
    cur.execute("UPDATE tbltickets SET attachment = '../secret.txt' WHERE id = 5")
    cur.close()
    try:
        report = import_whmcs(source["url"], batch_size=2, only=STEPS, attachments_dir=str(attachments_dir))
    finally:
        cur = source["conn"].cursor()
        cur.execute("UPDATE tbltickets SET attachment = '' WHERE id = 5")
        cur.close()
    assert ticket(5).raw["attachments"][0]["stored"] is None
    assert ("tbltickets.attachment", "5:../secret.txt") in {(i.table, i.whmcs_id) for i in report.issues}


def test_non_owner_users_become_contacts_with_their_password_hashes(source):
    report = import_whmcs(source["url"], batch_size=2, only=STEPS)

    one, seven, six = (Customer.objects.get(whmcs_id=n) for n in (1, 7, 6))
    helper = Contact.objects.get(customer=one, email="helper@example.com")
    assert (helper.name, helper.receives_invoices) == ("Hélène Helper", True)
    assert Contact.objects.get(customer=seven, email="helper@example.com").receives_invoices is False
    kept = ImportedClientUser.objects.get(whmcs_id=201)
    assert (kept.customer, kept.contact, kept.whmcs_user_id) == (one, helper, 101)
    assert kept.permissions == ["profile", "invoices", "tickets"]
    assert kept.email_verified is True
    assert kept.password.startswith("whmcs_bcrypt$")
    assert check_password(HELPER_PASSWORD, kept.password)
    assert not check_password("wrong", kept.password)
    assert ImportedClientUser.objects.filter(whmcs_user_id=101).count() == 2
    # The client's own login is not a contact; a client with only a non-owner user logs in as that user.
    assert one.user.email == "client1@example.com"
    assert six.user.email == "sole@example.com"
    assert not Contact.objects.filter(email="sole@example.com").exists()
    assert not ImportedClientUser.objects.filter(whmcs_id=204).exists()
    skipped = {(i.table, i.whmcs_id): i.reason for i in report.issues}
    assert "bad email" in skipped[("tblusers_clients", 203)]
    assert any(
        n.startswith("2 WHMCS user(s) who are not their client's owner came over as contacts") for n in report.notes
    )


def test_an_existing_contact_is_reused_and_a_rerun_writes_nothing(source):
    import_whmcs(source["url"], batch_size=2, only=["currencies", "clients"])
    one = Customer.objects.get(whmcs_id=1)
    made_by_staff = Contact.objects.create(customer=one, name="Old name", email="helper@example.com")

    import_whmcs(source["url"], batch_size=2, only=STEPS)
    made_by_staff.refresh_from_db()
    assert made_by_staff.name == "Hélène Helper"
    assert ImportedClientUser.objects.get(whmcs_id=201).contact == made_by_staff

    before = (Contact.objects.count(), ImportedClientUser.objects.count(), list(Contact.objects.values()))
    report = import_whmcs(source["url"], batch_size=2, only=STEPS)
    assert (Contact.objects.count(), ImportedClientUser.objects.count(), list(Contact.objects.values())) == before
    stats = report.tables["tblusers_clients"]
    assert (stats.imported, stats.updated, stats.unchanged) == (0, 0, stats.read - stats.skipped)


def test_dry_run_writes_no_contacts_and_copies_no_files(source, attachments_dir):
    report = import_whmcs(source["url"], batch_size=2, only=STEPS, attachments_dir=str(attachments_dir), dry_run=True)
    assert report.tables["tblusers_clients"].imported == 2
    assert ImportedClientUser.objects.count() == Contact.objects.count() == 0
    assert not default_storage.exists("support/whmcs/1/123456_screenshot.png")


def test_users_and_tickets_read_and_write_per_batch_not_per_row(source):
    """A rerun of the user and ticket steps issues as many queries with 30 more non-owner users and
    30 more staff notes as without them (one batch each)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import_whmcs(source["url"], batch_size=500, only=STEPS)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            import_whmcs(source["url"], batch_size=500, only=["users", "tickets"])
        return len(ctx.captured_queries)

    before = queries()
    conn = source["conn"]
    insert(conn, "tblusers", [
        {"id": 300 + n, "first_name": f"Extra{n}", "last_name": "User", "email": f"extra{n}@example.com",
         "password": md5_salted("pw", f"s{n}")}
        for n in range(30)
    ])  # fmt: skip
    insert(conn, "tblusers_clients", [
        {"id": 400 + n, "auth_user_id": 300 + n, "client_id": (n % 5) + 1, "owner": 0, "permissions": "invoices"}
        for n in range(30)
    ])  # fmt: skip
    insert(conn, "tblticketnotes", [
        {"id": 10 + n, "ticketid": (n % 6) + 1, "admin": "Carol", "date": "2024-06-01 10:00:00",
         "message": f"Note {n}", "attachments": "", "attachments_removed": 0}
        for n in range(30)
    ])  # fmt: skip
    cur = conn.cursor()
    try:
        import_whmcs(source["url"], batch_size=500, only=["users", "tickets"])
        assert ImportedClientUser.objects.filter(whmcs_id__gte=400).count() == 30
        assert len(ticket(1).raw["notes"]) == 6
        after = queries()
    finally:
        cur.execute("DELETE FROM tblticketnotes WHERE id >= 10")
        cur.execute("DELETE FROM tblusers_clients WHERE id >= 400")
        cur.execute("DELETE FROM tblusers WHERE id >= 300")
        cur.close()
    assert after == before
