"""Uploading WHMCS's own data-export reports (clients, products with pricing, services)."""

import pytest
import tablib
from django.urls import reverse

from backoffice.resources_whmcs import WhmcsClientResource, WhmcsProductResource, WhmcsServiceResource
from core.accounts.models import Customer
from core.catalog.models import Price, Product
from core.provisioning.models import Service
from tests.conftest import login_verified
from tests.factories import CurrencyFactory

pytestmark = pytest.mark.django_db

CLIENTS = (
    "ID,First Name,Last Name,Company Name,Email Address,Address 1,City,State,Postcode,Country,Phone Number,Currency,Status\n"
    "41,Anna,Müller,Acme GmbH,anna@example.de,Hauptstr. 1,Berlin,,10115,DE,+49.301234,EUR,Active\n"
    "42,Bob,O'Brien,,bob@example.com,1 Main St,Austin,TX,73301,US,+1.5550100,USD,Closed\n"
)
PRODUCTS = "pid,name,type,servertype,hidden,retired,qty,currency,monthly,quarterly,semiannually,annually\n7,VPS 2GB,server,virtfusion,0,0,,USD,5.00,14.00,-1.00,50.00\n"
SERVICES = "id,userid,packageid,domain,domainstatus,billingcycle,amount,nextduedate,dedicatedip,username\n900,41,7,vps.example.de,Active,Monthly,5.00,2026-02-01,203.0.113.9,root\n"


def _load(resource, text, dry_run=False):
    result = resource.import_data(tablib.Dataset().load(text, format="csv"), dry_run=dry_run, raise_errors=False)
    assert not result.has_errors(), [e.error for row in result.row_errors() for e in row[1]]
    assert not result.has_validation_errors(), result.invalid_rows
    return result


def test_reports_import_and_a_repeated_upload_updates_instead_of_duplicating():
    CurrencyFactory(code="USD")
    CurrencyFactory(code="EUR")
    preview = _load(WhmcsClientResource(), CLIENTS, dry_run=True)
    assert preview.totals["new"] == 2 and not Customer.objects.exists()  # preview writes nothing

    _load(WhmcsClientResource(), CLIENTS)
    _load(WhmcsProductResource(), PRODUCTS)
    _load(WhmcsServiceResource(), SERVICES)
    anna = Customer.objects.get(whmcs_id=41)
    assert (anna.user.email, anna.user.last_name, anna.currency_id, anna.company) == (
        "anna@example.de", "Müller", "EUR", "Acme GmbH"
    )  # fmt: skip
    assert Customer.objects.get(whmcs_id=42).status == "suspended"
    product = Product.objects.get(whmcs_id=7)
    assert product.platform == "virtfusion" and product.service_type == "vps"
    assert sorted(Price.objects.filter(product=product).values_list("cycle", flat=True)) == [
        "annual",
        "monthly",
        "quarterly",
    ]
    service = Service.objects.get(whmcs_id=900)
    assert service.customer == anna and service.primary_ip == "203.0.113.9"
    assert service.config["whmcs"]["next_due_date"] == "2026-02-01"

    again = _load(WhmcsClientResource(), CLIENTS.replace("Acme GmbH", "Acme AG"))
    assert again.totals["new"] == 0 and Customer.objects.count() == 2
    assert Customer.objects.get(whmcs_id=41).company == "Acme AG"
    _load(WhmcsServiceResource(), SERVICES)
    assert Service.objects.count() == 1


def test_a_service_before_its_client_is_a_row_error_that_says_what_to_do():
    result = WhmcsServiceResource().import_data(tablib.Dataset().load(SERVICES, format="csv"), raise_errors=False)
    assert result.has_errors()
    assert "upload the clients and products reports" in str(result.row_errors()[0][1][0].error)


def test_upload_pages_need_the_import_permission(client, staff_user):
    login_verified(client, staff_user)
    assert client.get(reverse("admin:imports_whmcsclientupload_import")).status_code == 200
    assert client.get(reverse("admin:imports_whmcsserviceupload_changelist")).status_code == 200
