"""WHMCS services come over whole: subscriptions our billing run renews, biennial/triennial/one-time
prices, configurable options, service passwords (with the WHMCS encryption key only) and addresses
registered for bandwidth metering. MariaDB (the WHMCS source is built from the 8.4 schema)."""

import base64
import datetime as dt
import hashlib
from decimal import Decimal

import pytest
from django.db import connection

from core import clock
from core.billing.models import Invoice, Subscription
from core.billing.services.billing_run import RunSummary, catch_up
from core.catalog.models import CYCLE_MONTHS, Price, Product
from core.provisioning.models import Service
from core.usage.models import ServiceAddress
from integrations.whmcs.crypto import DecryptError, decrypt
from integrations.whmcs.importer import import_whmcs
from tests.whmcs.source_db import insert

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db]

KEY = "Zx9!qLw2$cc-encryption-hash-of-configuration.php"
PASSWORD = "S3cr3t-€ñ 'quote\" and a long tail past forty bytes: 0123456789"  # three 20-byte blocks and more
UTC = dt.UTC


# --- WHMCS's encrypt(), written here independently of integrations.whmcs.crypto, to build fixtures ---------


def _sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()  # noqa: S324 (WHMCS's algorithm)


def whmcs_encrypt(plain: bytes, cc_encryption_hash: str, iv: bytes) -> str:
    """PHP: key = md5(md5(hash)) . md5(hash); hash_key = sha1 raw; out = iv ^ hash_key; then each
    20-byte block XOR key, key re-hashed as sha1(key . previous plaintext block)."""
    md5 = hashlib.md5(cc_encryption_hash.encode()).hexdigest()  # noqa: S324
    hash_key = _sha1((hashlib.md5(md5.encode()).hexdigest() + md5).encode())  # noqa: S324
    out = bytes(a ^ b for a, b in zip(iv, hash_key, strict=True))
    key = iv
    for start in range(0, len(plain), 20):
        if start:
            key = _sha1(key + plain[start - 20 : start])
        out += bytes(a ^ b for a, b in zip(plain[start : start + 20], key, strict=False))
    return base64.b64encode(out).decode()


def enc(text: str | bytes, key: str = KEY, seed: str = "iv") -> str:
    raw = text.encode() if isinstance(text, str) else text
    return whmcs_encrypt(raw, key, _sha1(seed.encode()))


def test_decrypt_reads_what_whmcs_encrypt_wrote():
    for text in ("", "a", "x" * 20, "y" * 21, PASSWORD, "密码-Grüße" * 9):
        assert decrypt(enc(text), KEY) == text
    with pytest.raises(DecryptError, match="UTF-8|control"):
        decrypt(enc(PASSWORD), "another key")
    with pytest.raises(DecryptError, match="UTF-8"):
        decrypt(enc(b"\xff\xfe\xfd bytes"), KEY)
    with pytest.raises(DecryptError, match="20-byte IV"):
        decrypt(base64.b64encode(b"short").decode(), KEY)


# --- The source: the generated history plus services that exercise each gap -----------------------------

SERVICES = {
    # id: (product, cycle, status, amount, next due, next invoice)
    1001: (1, "Monthly", "Active", "12.00", "2026-03-10", "2026-03-10"),
    1002: (3, "Biennially", "Active", "1780.00", "2026-05-01", "2026-05-01"),
    1003: (1, "Triennially", "Suspended", "150.00", "2027-01-01", "2027-01-01"),
    1004: (6, "One Time", "Active", "49.00", "0000-00-00", "0000-00-00"),
    1005: (7, "Free Account", "Active", "0.00", "0000-00-00", "0000-00-00"),
    1006: (1, "Monthly", "Cancelled", "12.00", "2025-06-01", "2025-06-01"),
    1007: (1, "Monthly", "Terminated", "12.00", "2025-04-01", "2025-04-01"),
    1008: (1, "Monthly", "Active", "12.00", "2026-02-01", "2026-03-01"),
    1009: (1, "Monthly", "Active", "12.00", "2026-03-10", "2026-03-10"),
    1010: (1, "Monthly", "Active", "12.00", "2026-03-10", "2026-03-10"),
    1011: (1, "Monthly", "Pending", "12.00", "2026-03-10", "2026-03-10"),
}


@pytest.fixture(scope="module")
def source(whmcs_source):
    conn = whmcs_source["conn"]
    insert(conn, "tblproducts", [
        {"id": 6, "type": "other", "gid": 1, "name": "Server setup", "paytype": "onetime", "servertype": "", "order": 6},
        {"id": 7, "type": "other", "gid": 1, "name": "Free trial", "paytype": "free", "servertype": "", "order": 7},
    ])  # fmt: skip
    none = {c: Decimal("-1.00") for c in ("quarterly", "semiannually", "annually", "biennially", "triennially")}
    fees = {c: Decimal("0.00") for c in ("qsetupfee", "ssetupfee", "asetupfee", "bsetupfee", "tsetupfee")}
    insert(conn, "tblpricing", [
        {"id": 100, "type": "product", "currency": 1, "relid": 6, "monthly": Decimal("49.00"),
         "msetupfee": Decimal("5.00"), **none, **fees},
        {"id": 101, "type": "product", "currency": 1, "relid": 7, "monthly": Decimal("-1.00"),
         "msetupfee": Decimal("0.00"), **none, **fees},
        # Configurable option prices: relid is tblproductconfigoptionssub.id.
        {"id": 110, "type": "configoptions", "currency": 1, "relid": 2, "monthly": Decimal("4.00"),
         "msetupfee": Decimal("0.00"), **none, "annually": Decimal("40.00"), **fees},
        {"id": 111, "type": "configoptions", "currency": 1, "relid": 3, "monthly": Decimal("1.50"),
         "msetupfee": Decimal("0.00"), **none, **fees},
        {"id": 112, "type": "configoptions", "currency": 2, "relid": 3, "monthly": Decimal("1.40"),
         "msetupfee": Decimal("2.00"), **none, **fees},
    ])  # fmt: skip
    insert(conn, "tblproductconfiggroups", [{"id": 1, "name": "VPS options", "description": ""}])
    insert(conn, "tblproductconfiglinks", [{"id": 1, "gid": 1, "pid": 1}])
    insert(conn, "tblproductconfigoptions", [
        {"id": 1, "gid": 1, "optionname": "Memory", "optiontype": "1", "qtyminimum": 0, "qtymaximum": 0, "order": 1, "hidden": 0},
        {"id": 2, "gid": 1, "optionname": "Extra IPv4", "optiontype": "4", "qtyminimum": 0, "qtymaximum": 8, "order": 2, "hidden": 0},
        {"id": 3, "gid": 1, "optionname": "Backups", "optiontype": "3", "qtyminimum": 0, "qtymaximum": 0, "order": 3, "hidden": 0},
    ])  # fmt: skip
    insert(conn, "tblproductconfigoptionssub", [
        {"id": 1, "configid": 1, "optionname": "4 GB", "sortorder": 1, "hidden": 0},
        {"id": 2, "configid": 1, "optionname": "8 GB", "sortorder": 2, "hidden": 0},
        {"id": 3, "configid": 2, "optionname": "IPv4 address", "sortorder": 1, "hidden": 0},
        {"id": 4, "configid": 3, "optionname": "Daily backups", "sortorder": 1, "hidden": 0},
    ])  # fmt: skip
    passwords = {1001: enc(PASSWORD), 1009: enc(b"\xff\xfe\xfd not text"), 1010: ""}
    rows = []
    for sid, (pid, cycle, status, amount, due, invoice_due) in SERVICES.items():
        rows.append({
            "id": sid, "userid": 6, "packageid": pid, "regdate": "2024-01-10", "domain": f"vps{sid}.example.net",
            "paymentmethod": "stripe", "firstpaymentamount": Decimal(amount), "amount": Decimal(amount),
            "billingcycle": cycle, "nextduedate": due, "nextinvoicedate": invoice_due, "domainstatus": status,
            "username": f"root{sid}", "dedicatedip": f"203.0.113.{sid - 990}",
            "assignedips": f"198.51.100.{sid - 990}", "server": 1, "qty": 1,
            "password": passwords.get(sid, enc(f"pw-{sid}")),
            "termination_date": "2025-06-30" if status in ("Cancelled", "Terminated") else "0000-00-00",
        })  # fmt: skip
    insert(conn, "tblhosting", rows)
    insert(conn, "tblhostingconfigoptions", [
        {"id": 1, "relid": 1001, "configid": 1, "optionid": 2, "qty": 0},
        {"id": 2, "relid": 1001, "configid": 2, "optionid": 3, "qty": 2},
        {"id": 3, "relid": 1001, "configid": 3, "optionid": 4, "qty": 0},
        {"id": 4, "relid": 1001, "configid": 99, "optionid": 9, "qty": 0},  # an option that no longer exists
    ])  # fmt: skip
    insert(conn, "tblcancelrequests", [{"id": 2, "relid": 1010, "reason": "Moving out", "type": "End of Billing Period",
                                        "date": "2026-01-20 10:00:00"}])  # fmt: skip
    return whmcs_source


def _issues(report, table):
    return {i.whmcs_id: i for i in report.issues if i.table == table}


def _sub(sid) -> Subscription:
    return Subscription.objects.select_related("price").get(whmcs_id=sid)


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=UTC)


def test_services_come_over_with_subscriptions_prices_options_passwords_and_addresses(source):
    report = import_whmcs(source["url"], batch_size=40, encryption_key=KEY)
    assert report.schema_differences == []
    assert report.is_reconciled and report.service_differences == [], report.summary()

    # Subscriptions: cycle, WHMCS's recurring amount (options included, not added again), currency, period.
    sub = _sub(1001)
    assert (sub.cycle, sub.amount, sub.currency_id, sub.status) == ("monthly", Decimal("12.00"), "USD", "active")
    assert (sub.current_period_start, sub.current_period_end) == (_at("2026-02-10"), _at("2026-03-10"))
    assert (sub.price.product.whmcs_id, sub.price.currency_id, sub.price.cycle) == (1, "USD", "monthly")
    assert sub.customer.whmcs_id == 6 and not sub.cancel_at_period_end
    service = Service.objects.get(whmcs_id=1001)
    assert service.subscription_id == sub.pk
    biennial = _sub(1002)
    assert biennial.cycle == "biennial" and biennial.price.amount == Decimal("1780.00") and biennial.price.is_active
    assert biennial.current_period_start == _at("2024-05-01")
    triennial = _sub(1003)  # suspended: still renews; no triennial price in WHMCS: an inactive one is added
    assert (triennial.cycle, triennial.status, triennial.price.is_active) == ("triennial", "active", False)
    assert "no triennial price in USD" in _issues(report, "tblhosting.subscription")[1003].reason
    assert not Subscription.objects.filter(whmcs_id__in=[1004, 1005, 1011]).exists()  # one time, free, pending
    assert Service.objects.get(whmcs_id=1004).subscription_id is None
    cancelled, ended = _sub(1006), _sub(1007)
    assert (cancelled.status, cancelled.ended_at, cancelled.cancelled_at) == ("cancelled", _at("2025-06-30"),
                                                                               _at("2025-06-30"))  # fmt: skip
    assert (ended.status, ended.ended_at) == ("ended", _at("2025-06-30"))
    assert _sub(1008).current_period_end == _at("2026-03-01")  # WHMCS already invoiced from 2026-02-01
    leaving = _sub(1010)
    assert leaving.cancel_at_period_end and leaving.cancel_comment == "Moving out"
    # The generated history: every running recurring service has one, in its client's currency.
    assert Subscription.objects.filter(whmcs_id=1).get().cycle == "quarterly"
    assert Subscription.objects.filter(whmcs_id__lte=48).count() == 48 - sum(1 for s in range(1, 49) if s % 7 == 0)

    # Prices: biennial imported (product 3, every currency); one-time reported with its reason.
    assert Price.objects.filter(product__whmcs_id=3, cycle="biennial").count() == 3
    one_time = _issues(report, "tblpricing")[100]
    assert one_time.action == "skipped" and "one-time price 49.00 USD" in one_time.reason
    assert "no one-time cycle" in one_time.reason
    assert not Price.objects.filter(product__whmcs_id__in=[6, 7]).exists()

    # Configurable options: on the product with their prices, and each service's choice.
    options = Product.objects.get(whmcs_id=1).platform_settings["whmcs_config_options"]
    assert [o["name"] for o in options] == ["Memory", "Extra IPv4", "Backups"]
    memory = options[0]
    assert (memory["group"], memory["type"]) == ("VPS options", "dropdown")
    assert memory["choices"][1]["name"] == "8 GB" and memory["choices"][1]["prices"]["USD"]["monthly"] == "4.00"
    assert memory["choices"][1]["prices"]["USD"]["annual"] == "40.00"
    assert options[1]["choices"][0]["prices"]["EUR"] == {"monthly": "1.40", "monthly_setup_fee": "2.00"}
    assert "whmcs_config_options" not in Product.objects.get(whmcs_id=2).platform_settings
    chosen = service.config["whmcs"]["config_options"]
    assert [(c["option"], c.get("choice"), c.get("quantity")) for c in chosen] == [
        ("Memory", "8 GB", None), ("Extra IPv4", None, 2), ("Backups", "no", None),
    ]  # fmt: skip
    assert _issues(report, "tblhostingconfigoptions")[4].action == "skipped"

    # Passwords: decrypted with WHMCS's key, stored encrypted with ours; bad ones reported, not stored.
    assert service.credentials == {"password": PASSWORD}
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM provisioning_service WHERE whmcs_id = 1001")
        raw = cursor.fetchone()[0]
    assert raw.startswith("fernet:") and "S3cr3t" not in raw
    assert Service.objects.get(whmcs_id=1002).credentials == {"password": "pw-1002"}
    bad = _issues(report, "tblhosting.password")
    assert "UTF-8" in bad[1009].reason and Service.objects.get(whmcs_id=1009).credentials is None
    assert "not base64" in bad[2].reason  # the history's placeholder 'encrypted-blob'
    assert Service.objects.get(whmcs_id=1010).credentials is None  # empty in WHMCS
    for text in (report.summary(), report.to_csv(), report.to_html(), str(report.to_dict()), repr(report)):
        assert KEY not in text and "S3cr3t" not in text
    assert any("decrypted with the WHMCS key" in n for n in report.notes)
    assert any("next due date in the past" in n for n in report.notes)  # the history's 2026-01-15 vs today

    # Addresses registered for bandwidth metering (bulk writes skip the signal); none for terminated ones.
    open_rows = ServiceAddress.objects.filter(valid_to__isnull=True)
    assert set(open_rows.filter(service=service).values_list("network", flat=True)) == {"203.0.113.11",
                                                                                         "198.51.100.11"}  # fmt: skip
    assert not open_rows.filter(service__whmcs_id=1007).exists()
    assert open_rows.filter(service__whmcs_id=1).exists()

    # MRR counts the imported subscriptions (active and suspended; not cancelled or ended).
    from core.analytics.mrr import mrr_by_product_and_currency

    product3 = Product.objects.get(whmcs_id=3)
    expected = sum(
        (s.amount / CYCLE_MONTHS[s.cycle] for s in Subscription.objects.filter(price__product=product3,
                                                                              currency_id="USD", status="active")),
        Decimal("0"),
    )  # fmt: skip
    cent = Decimal("0.01")
    assert mrr_by_product_and_currency()[(product3.pk, "USD")].quantize(cent) == expected.quantize(cent)
    assert expected >= Decimal("1780.00") / 24


_WRITES: list[str] = []


def _count_writes(execute, sql, params, many, context):
    if sql.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
        _WRITES.append(sql[:120])
    return execute(sql, params, many, context)


def test_rerun_writes_nothing_and_a_change_in_whmcs_updates_subscription_and_addresses(source):
    import_whmcs(source["url"], batch_size=40, encryption_key=KEY)
    counts = (Subscription.objects.count(), Price.objects.count(), ServiceAddress.objects.count())
    _WRITES.clear()
    with connection.execute_wrapper(_count_writes):
        report = import_whmcs(source["url"], batch_size=40, encryption_key=KEY)
    assert _WRITES == [], _WRITES[:5]
    assert (Subscription.objects.count(), Price.objects.count(), ServiceAddress.objects.count()) == counts
    assert all(s.imported == 0 and s.updated == 0 for s in report.tables.values()), report.summary()

    # A password changed in WHMCS replaces ours; other credentials stored here are kept.
    service = Service.objects.get(whmcs_id=1002)
    service.credentials = {"password": "pw-1002", "api_token": "kept"}
    service.save(update_fields=["credentials"])
    cur = source["conn"].cursor()
    cur.execute("UPDATE tblhosting SET password = %s WHERE id = 1002", [enc("new pässword", seed="other iv")])
    report = import_whmcs(source["url"], batch_size=40, encryption_key=KEY, only=["services"])
    assert Service.objects.get(whmcs_id=1002).credentials == {"password": "new pässword", "api_token": "kept"}
    assert report.tables["tblhosting"].updated == 1

    cur.execute("UPDATE tblhosting SET amount = 14.00, nextduedate = '2026-04-10', nextinvoicedate = '2026-04-10', "
                "dedicatedip = '203.0.113.99' WHERE id = 1001")  # fmt: skip
    try:
        later = clock.now().replace(microsecond=0) + dt.timedelta(days=1)
        with clock.frozen_at(later):
            report = import_whmcs(source["url"], batch_size=40, encryption_key=KEY)
        assert report.tables["tblhosting.subscription"].updated == 1
        sub = _sub(1001)
        assert (sub.amount, sub.current_period_end) == (Decimal("14.00"), _at("2026-04-10"))
        rows = ServiceAddress.objects.filter(service__whmcs_id=1001)
        assert set(rows.filter(valid_to__isnull=True).values_list("network", flat=True)) == {"203.0.113.99",
                                                                                            "198.51.100.11"}  # fmt: skip
        assert rows.get(network="203.0.113.11").valid_to == later  # closed when WHMCS moved it
    finally:
        cur.execute("UPDATE tblhosting SET amount = 12.00, nextduedate = '2026-03-10', nextinvoicedate = '2026-03-10', "
                    "dedicatedip = '203.0.113.11' WHERE id = 1001")  # fmt: skip


def test_the_billing_run_renews_an_imported_service_once_at_its_whmcs_next_due_date(source, settings):
    # Cutover on 2026-02-15: from then on our run bills the imported subscriptions (before it, WHMCS does:
    # tests/billing/test_imported_cutover.py).
    settings.BILLING = {**settings.BILLING, "IMPORTED_BILLING_FROM": "2026-02-15"}
    with clock.frozen_at(_at("2026-01-01")):
        import_whmcs(source["url"], batch_size=40, only=None)
    sub = _sub(1001)

    def renewals(subscription):
        return list(Invoice.objects.filter(subscription=subscription).order_by("renewal_period_start"))

    # A week before: outside the renewal window (7 days before the period end), nothing for it yet.
    with clock.frozen_at(_at("2026-03-02")):
        catch_up(clock.now(), RunSummary(date="2026-03-02"))
    assert renewals(sub) == []
    # WHMCS had invoiced 1008 from its due date 2026-02-01 already: ours starts after that period.
    assert [i.renewal_period_start for i in renewals(_sub(1008))] == [_at("2026-03-01")]

    with clock.frozen_at(_at("2026-03-10")):
        summary = RunSummary(date="2026-03-10")
        catch_up(clock.now(), summary)
        assert summary.errors == [], summary.errors[:3]
        catch_up(clock.now(), RunSummary(date="2026-03-10"))  # the same day again renews nothing
    invoices = renewals(sub)
    assert len(invoices) == 1, invoices
    invoice = invoices[0]
    assert invoice.renewal_period_start == _at("2026-03-10")
    assert invoice.subtotal == Decimal("12.00") and invoice.currency_id == "USD"
    assert invoice.lines.get(kind="item").amount == Decimal("12.00")
    sub.refresh_from_db()
    assert (sub.current_period_start, sub.current_period_end) == (_at("2026-03-10"), _at("2026-04-10"))
    assert not Invoice.objects.filter(subscription__whmcs_id__in=[1006, 1007]).exists()  # ended ones never renew

    # A biennial service renews for 24 months at its due date, with WHMCS's amount.
    with clock.frozen_at(_at("2026-05-01")):
        summary = RunSummary(date="2026-05-01")
        catch_up(clock.now(), summary)
        assert summary.errors == [], summary.errors[:3]
    biennial = _sub(1002)
    [renewal] = renewals(biennial)
    assert (renewal.renewal_period_start, renewal.subtotal) == (_at("2026-05-01"), Decimal("1780.00"))
    assert (biennial.current_period_start, biennial.current_period_end) == (_at("2026-05-01"), _at("2028-05-01"))


def test_without_the_key_passwords_are_not_imported_and_the_report_says_so_once(source):
    report = import_whmcs(source["url"], batch_size=40, only=["currencies", "clients", "products", "pricing",
                                                              "services"])  # fmt: skip
    assert Service.objects.get(whmcs_id=1001).credentials is None
    assert not _issues(report, "tblhosting.password")
    notes = [n for n in report.notes if "passwords" in n]
    assert len(notes) == 1 and "no WHMCS encryption key" in notes[0]


def test_the_command_takes_the_key_from_the_option_or_the_environment(monkeypatch):
    from django.core.management import call_command

    from backoffice.management.commands import import_whmcs as command
    from integrations.whmcs.report import ImportReport

    seen = []

    def fake(source_url, **options):
        seen.append(options["encryption_key"])
        return ImportReport()

    monkeypatch.setattr(command, "import_whmcs", fake)
    call_command("import_whmcs", "--source", "mysql://u:p@h/w", "--whmcs-encryption-key", "k1")
    monkeypatch.setenv("WHMCS_CC_ENCRYPTION_HASH", "k2")
    call_command("import_whmcs", "--source", "mysql://u:p@h/w")
    assert seen == ["k1", "k2"]


def test_the_admin_start_keeps_the_key_encrypted_until_the_run_reads_it(monkeypatch, staff_user):
    from core.audit.models import AuditLog
    from integrations.whmcs import tasks
    from integrations.whmcs.report import ImportReport

    seen = []

    def fake(source_url, **options):
        seen.append(options["encryption_key"])
        return ImportReport()

    monkeypatch.setattr(tasks, "import_whmcs", fake)
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: None)
    run = tasks.start_import("mysql://u:p@h/w", dry_run=True, only=[], since=None, actor=staff_user,
                             encryption_key=KEY)  # fmt: skip
    run.refresh_from_db()
    assert run.options["encryption_key"].startswith("fernet:") and KEY not in str(run.options)
    assert all(KEY not in str(a.data) + a.message for a in AuditLog.objects.all())
    tasks.run_import(run.pk)
    run.refresh_from_db()
    assert seen == [KEY] and "encryption_key" not in run.options
