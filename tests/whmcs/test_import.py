"""The WHMCS importer against a generated WHMCS 8.4 database on MariaDB."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Sum

from core.accounts.models import Customer
from core.audit.models import AuditLog
from core.billing.models import (
    Coupon,
    CouponAmount,
    CreditEntry,
    GatewayCustomer,
    Invoice,
    InvoiceLine,
    Order,
    Payment,
    TaxRate,
)
from core.billing.services import numbering
from core.billing.services.integrity import check_invoices
from core.catalog.models import Price, Product
from core.imports.models import ClientGroup, ImportedClientDetails, ImportedContact
from core.provisioning.models import Service
from core.support.models import SupportTicket
from integrations.whmcs.importer import import_whmcs

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db]
User = get_user_model()

COUNTED = [
    User, Customer, ImportedClientDetails, ImportedContact, ClientGroup, Product, Price, Service, Invoice, InvoiceLine,
    Payment, CreditEntry, Coupon, CouponAmount, TaxRate, Order, GatewayCustomer, SupportTicket, AuditLog,
]  # fmt: skip


def row_counts() -> dict:
    counts = {m.__name__: m.objects.count() for m in COUNTED}
    for model in (Customer, Product, Price, Service, Invoice, Coupon):
        counts[f"history:{model.__name__}"] = model.history.model.objects.count()
    return counts


def issues(report, table=None):
    return {(i.table, i.whmcs_id): i for i in report.issues if table is None or i.table == table}


def test_full_import_reconciles_to_the_cent_and_reports_dirty_rows(whmcs_source):
    report = import_whmcs(whmcs_source["url"], batch_size=50)

    assert report.schema_differences == []
    assert report.money, "the reconciliation compared money"
    assert report.money_differences == [], report.summary()
    assert report.clients == [], report.summary()
    assert report.service_differences == [], report.summary()
    assert report.is_reconciled
    assert {r["currency"] for r in report.money} >= {"USD", "EUR", "GBP"}
    assert len({r["year"] for r in report.money}) >= 5
    assert check_invoices() == []

    found = issues(report)
    history = whmcs_source["history"]
    for name, rows in history.dirty.items():
        if name == "mass_payment":
            continue
        for key in rows:
            assert key in found, f"dirty row {name} {key} not reported"
    assert found[("tblinvoices", history.dirty["invoice_broken_client"][0][1])].action == "skipped"
    assert found[("tblaccounts", history.dirty["transaction_broken_client"][0][1])].action == "skipped"
    assert found[("tblhosting", 900)].action == "skipped"
    assert found[("tblclients", 15)].action == "repaired"

    # Repairs by their stated rules.
    assert Customer.objects.get(whmcs_id=2).user.last_name == "Müller"
    assert Customer.objects.get(whmcs_id=3).user.email == "whmcs-client-3@import.invalid"
    assert Customer.objects.get(whmcs_id=4).currency_id == "USD"
    assert Product.objects.get(whmcs_id=3).stock_quantity == 0
    assert Product.objects.get(whmcs_id=5).status == "archived"
    assert Product.objects.get(whmcs_id=4).status == "hidden"
    # -1.00: disabled cycle, never offered (services still on it get an inactive price for their subscription)
    assert not Price.objects.filter(cycle="semi_annual", is_active=True).exists()
    impossible = Invoice.objects.get(whmcs_id=history.dirty["invoice_impossible_date"][0][1])
    assert str(impossible.issue_date) == "2022-02-28"
    credit = CreditEntry.objects.filter(customer__whmcs_id=15).aggregate(s=Sum("amount"))["s"] or Decimal("0")
    assert credit == Decimal("3.00")

    # Invoices as issued: the number customers saw, series of their own, immutable.
    numbered = Invoice.objects.filter(whmcs_id__isnull=False, customer__whmcs_id=1).exclude(
        number__regex=r"^[0-9]{1,4}$"
    )
    assert numbered.exists() and all(inv.series == "whmcs" for inv in numbered)
    assert Invoice.objects.filter(number=str(Invoice.objects.filter(customer__whmcs_id=2).first().whmcs_id)).exists()
    mass = Invoice.objects.get(whmcs_id=history.dirty["mass_payment"][0][1])
    assert mass.billing_details["whmcs"]["mass_payment"] is True
    # Its number is one our format makes: our series continues after it, and check_invoices agrees.
    assert mass.number == "INV-2025-000042"
    with transaction.atomic():
        assert numbering.take_number(numbering.INVOICE, dt.date(2025, 12, 31)) == "INV-2025-000043"
        transaction.set_rollback(True)
    assert check_invoices() == []
    refund = Payment.objects.filter(kind="refund", whmcs_id__isnull=False).first()
    assert refund.original_payment is not None and refund.original_payment.invoice_id == refund.invoice_id

    # Services: status, platform, IPs; no service password without the encryption key.
    service = Service.objects.get(whmcs_id=1)
    assert service.primary_ip == "10.0.1.1" and service.ip_addresses == ["10.1.1.1", "10.2.1.1"]
    assert service.credentials is None
    assert service.config["whmcs"]["billing_cycle"]
    assert service.config["whmcs"]["addons"][0]["name"] == "Extra IPv4"
    assert Service.objects.get(whmcs_id=4).config["whmcs"]["cancellation_request"]["reason"] == "Too expensive"

    # Coupons with usage, tax rules, orders, gateway tokens, support archive, activity log.
    welcome = Coupon.objects.get(code="WELCOME10")
    assert (welcome.kind, welcome.percent, welcome.times_redeemed, welcome.max_redemptions) == ("percent", 10, 3, 100)
    five = Coupon.objects.get(code="FIVEOFF")
    assert five.duration == "forever" and five.amounts.count() == 3
    assert found[("tblpromotions", 3)].action == "skipped"
    assert TaxRate.objects.get(country="US", region="Texas").rate == Decimal("6.25")
    assert found[("tbltax", 3)].action == "skipped"
    assert Order.objects.filter(whmcs_id__isnull=False).count() == 24
    assert Order.objects.get(whmcs_id=1).status == "fulfilled" and Order.objects.get(whmcs_id=3).status == "refused"
    assert GatewayCustomer.objects.filter(gateway_customer_id="cus_TEST1", customer__whmcs_id=1).exists()
    assert found[("tblpaymethods", 1)].action == "skipped"
    ticket = SupportTicket.objects.get(external_id="whmcs-2")
    assert ticket.customer.whmcs_id == 2 and len(ticket.raw["replies"]) == 2 and ticket.raw["message"].endswith("Grüße")
    assert SupportTicket.objects.get(external_id="whmcs-6").raw["guest"]["email"] == "guest@example.org"
    assert AuditLog.objects.filter(source="import", object_type="whmcs.activitylog").count() == 20


def test_rerun_writes_nothing_and_updates_what_changed(whmcs_source):
    import_whmcs(whmcs_source["url"], batch_size=50)
    before = row_counts()
    with connection.execute_wrapper(_count_writes) as _:
        _WRITES.clear()
        report = import_whmcs(whmcs_source["url"], batch_size=50)
    assert _WRITES == [], _WRITES[:5]
    assert row_counts() == before
    assert all(s.imported == 0 and s.updated == 0 for s in report.tables.values()), report.summary()
    assert report.is_reconciled

    cur = whmcs_source["conn"].cursor()
    cur.execute("UPDATE tblclients SET companyname = 'Renamed GmbH' WHERE id = 1")
    cur.execute(
        "UPDATE tblinvoices SET status = 'Paid' WHERE id = (SELECT MIN(id) FROM (SELECT id FROM tblinvoices WHERE userid = 1 AND status = 'Unpaid') x)"
    )
    try:
        report = import_whmcs(whmcs_source["url"], batch_size=50)
        assert Customer.objects.get(whmcs_id=1).company == "Renamed GmbH"
        assert report.tables["tblclients"].updated == 1
        assert report.tables["tblinvoices"].updated == 1
    finally:
        cur.execute("UPDATE tblclients SET companyname = 'Company 1' WHERE id = 1")


_WRITES: list[str] = []


def _count_writes(execute, sql, params, many, context):
    if sql.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
        _WRITES.append(sql[:120])
    return execute(sql, params, many, context)


def test_dry_run_writes_nothing_and_reports_the_same(whmcs_source):
    before = row_counts()
    report = import_whmcs(whmcs_source["url"], dry_run=True, batch_size=50)
    assert row_counts() == before
    assert report.dry_run and report.is_reconciled
    assert report.tables["tblclients"].imported == whmcs_source["history"].clients


def test_imported_clients_log_in_with_their_whmcs_passwords(whmcs_source):
    import_whmcs(whmcs_source["url"], only=["currencies", "clientgroups", "clients"], batch_size=50)
    passwords = whmcs_source["history"].passwords
    formats = set()
    for cid, (_email, password) in passwords.items():
        user = Customer.objects.get(whmcs_id=cid).user
        formats.add(user.password.split("$", 1)[0])
        assert not user.check_password("wrong-" + password)
        assert user.check_password(password), (cid, user.password[:20])
        user.refresh_from_db()
        assert not user.password.startswith("whmcs_"), "re-hashed with the default hasher on first login"
        assert user.check_password(password)
    assert formats == {"whmcs_bcrypt", "whmcs_md5", "whmcs_hmac"}


def test_schema_difference_stops_before_anything_is_written(whmcs_source):
    cur = whmcs_source["conn"].cursor()
    cur.execute("ALTER TABLE tblclients ADD COLUMN loyalty_points int NOT NULL DEFAULT 0")
    try:
        before = row_counts()
        report = import_whmcs(whmcs_source["url"])
        assert report.schema_differences == [
            "tblclients.loyalty_points: column not known to the importer (WHMCS version drift?)"
        ]
        assert row_counts() == before
    finally:
        cur.execute("ALTER TABLE tblclients DROP COLUMN loyalty_points")


def test_command_prints_progress_and_summary_and_writes_html_and_csv(whmcs_source, tmp_path, capsys):
    from django.core.management import call_command

    call_command("import_whmcs", "--source", whmcs_source["url"], "--report-dir", str(tmp_path), "--batch-size", "100")
    out = capsys.readouterr().out
    print(out)
    assert "tblinvoices:" in out and "rows/s" in out and "ETA" in out
    assert "RECONCILED: every money difference is 0.00" in out
    html = (tmp_path / "report.html").read_text()
    csv_text = (tmp_path / "report.csv").read_text()
    assert "Money per currency and year" in html and "tblcontacts" in html
    assert "dirty_row,tblinvoices" in csv_text and "money,EUR," in csv_text


def test_an_issued_invoice_changed_in_whmcs_is_kept_and_shows_as_a_difference(whmcs_source):
    from django.core.management import call_command

    import_whmcs(whmcs_source["url"], batch_size=100)
    cur = whmcs_source["conn"].cursor()
    cur.execute(
        "SELECT id, subtotal, total FROM tblinvoices WHERE status = 'Unpaid' AND credit = 0 AND tax = 0 ORDER BY id LIMIT 1"
    )
    iid, subtotal, total = cur.fetchone()
    cur.execute("UPDATE tblinvoices SET subtotal = subtotal + 1, total = total + 1 WHERE id = %s", [iid])
    try:
        report = import_whmcs(whmcs_source["url"], batch_size=100)
        assert Invoice.objects.get(whmcs_id=iid).total == total
        assert any(i.whmcs_id == iid and "changed in WHMCS after import" in i.reason for i in report.issues)
        assert [r["difference"] for r in report.money_differences] == [Decimal("1.00")]
        with pytest.raises(SystemExit) as exit_:
            call_command("import_whmcs", "--source", whmcs_source["url"])
        assert exit_.value.code == 1
    finally:
        cur.execute("UPDATE tblinvoices SET subtotal = %s, total = %s WHERE id = %s", [subtotal, total, iid])


def test_an_interrupted_run_resumes_on_the_next_run(whmcs_source, monkeypatch):
    from integrations.whmcs import steps_billing

    clean_batch = steps_billing._transaction_batch
    calls = {"n": 0}

    def crash_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("lost the connection to the WHMCS database")
        return clean_batch(*args, **kwargs)

    monkeypatch.setattr(steps_billing, "_transaction_batch", crash_on_third_batch)
    with pytest.raises(ConnectionError):
        import_whmcs(whmcs_source["url"], batch_size=50)
    assert Payment.objects.count() > 0  # the batches before the crash were committed
    monkeypatch.setattr(steps_billing, "_transaction_batch", clean_batch)

    report = import_whmcs(whmcs_source["url"], batch_size=50)
    assert report.is_reconciled, report.summary()
    assert report.tables["tblaccounts"].unchanged == 100  # the two committed batches were not written again
    assert Payment.objects.filter(whmcs_id__isnull=False).count() == report.tables["tblaccounts"].read - 1


def test_since_reads_only_rows_changed_from_that_date(whmcs_source):
    import_whmcs(whmcs_source["url"], batch_size=50)
    cur = whmcs_source["conn"].cursor()
    cur.execute("UPDATE tblclients SET companyname = 'Changed later', updated_at = '2030-01-02 00:00:00' WHERE id = 1")
    cur.execute("UPDATE tblclients SET companyname = 'Changed, not dated' WHERE id = 2")
    try:
        report = import_whmcs(whmcs_source["url"], only=["clients"], since="2030-01-01")
        assert report.tables["tblclients"].read == 1 and report.tables["tblclients"].updated == 1
        assert Customer.objects.get(whmcs_id=1).company == "Changed later"
        assert Customer.objects.get(whmcs_id=2).company != "Changed, not dated"
    finally:
        cur.execute("UPDATE tblclients SET companyname = 'Company 1', updated_at = '0000-00-00 00:00:00' WHERE id = 1")
        cur.execute("UPDATE tblclients SET companyname = '' WHERE id = 2")
