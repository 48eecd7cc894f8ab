"""Customers go out as CSV and come in from CSV; one bad row stops the whole file."""

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.accounts.models import Customer, User
from tests.factories import CurrencyFactory, CustomerFactory

HEADER = "email,first_name,last_name,company,country,currency,vat_id,status\n"


def _upload(staff_client, text: str):
    return staff_client.post(
        reverse("admin:accounts_customer_import"),
        {"format": "0", "resource": "0", "import_file": SimpleUploadedFile("customers.csv", text.encode(), "text/csv")},
    )


def test_customer_csv_export_contains_rows(staff_client, db):
    CustomerFactory(company="Acme Hosting", user__email="ops@acme.example")
    response = staff_client.post(
        reverse("admin:accounts_customer_export"),
        {"format": "0", "resource": "0", "export_items": [str(c.pk) for c in Customer.objects.all()]},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    content = response.content.decode() if hasattr(response, "content") else b"".join(response.streaming_content)
    rows = list(csv.DictReader(io.StringIO(content)))
    assert rows[0]["email"] == "ops@acme.example"
    assert rows[0]["company"] == "Acme Hosting"
    assert rows[0]["currency"] == "USD"


def test_customer_csv_import_creates_customers_and_users(staff_client, db):
    CurrencyFactory(code="USD")
    CurrencyFactory(code="EUR")
    text = (
        HEADER
        + "new1@example.com,Ada,Lovelace,Engines Ltd,GB,EUR,,active\nnew2@example.com,Alan,Turing,,US,USD,,active\n"
    )
    response = _upload(staff_client, text)
    assert response.status_code == 200
    confirm = response.context["confirm_form"]
    assert confirm is not None, response.content.decode()[:2000]
    assert Customer.objects.count() == 0  # the dry run changed nothing
    response = staff_client.post(reverse("admin:accounts_customer_process_import"), confirm.initial)
    assert response.status_code == 302
    ada = Customer.objects.select_related("user").get(user__email="new1@example.com")
    assert (ada.company, ada.country, ada.currency_id, ada.user.first_name) == ("Engines Ltd", "GB", "EUR", "Ada")
    assert not ada.user.has_usable_password()
    assert Customer.objects.count() == 2


def test_customer_csv_import_with_a_bad_row_reports_it_and_changes_nothing(staff_client, db):
    CurrencyFactory(code="USD")
    existing = CustomerFactory(company="Keep Me", user__email="keep@example.com")
    text = (
        HEADER
        + "keep@example.com,,,Renamed,US,USD,,active\n"
        + "ok@example.com,Ok,Row,,US,USD,,active\n"
        + "bad@example.com,Bad,Row,,US,XXX,,active\n"
    )
    users_before = User.objects.count()
    response = _upload(staff_client, text)
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context.get("confirm_form") is None
    assert "Unknown currency &#x27;XXX&#x27;" in body or "Unknown currency 'XXX'" in body
    existing.refresh_from_db()
    assert existing.company == "Keep Me"
    assert Customer.objects.count() == 1
    assert User.objects.count() == users_before
