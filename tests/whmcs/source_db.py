"""A WHMCS 8.4 database for tests: created from the shared schema on MariaDB, filled with a
generated history (several years, every status, three currencies, refunds, credit, coupons,
cancelled/collections/mass-payment invoices) and deliberately dirty rows.

`History` keeps the facts tests assert on (passwords per hash format, ids of dirty rows).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import re
import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import bcrypt
import MySQLdb
from django.conf import settings

# The WHMCS 8.4 schema dump, kept in the repository so a clean clone (CI) builds the source database.
SCHEMA = Path(__file__).parent / "schema" / "whmcs-8.4-schema.sql"
CENT = Decimal("0.01")


def server() -> dict:
    db = settings.DATABASES["default"]
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": int(db["PORT"] or 3306),
        "user": db["USER"],
        "password": db["PASSWORD"],
    }


def source_url(name: str) -> str:
    s = server()
    return f"mysql://{s['user']}:{s['password']}@{s['host']}:{s['port']}/{name}"


def schema_sql(tables=None) -> bytes:
    """The shared WHMCS 8.4 dump cut to the tables the importer reads (all 163 take ~20 s to create
    on a loaded machine; the statements for each table are taken from the dump unchanged)."""
    from integrations.whmcs.schema import EXPECTED_COLUMNS

    wanted = set(tables or EXPECTED_COLUMNS)
    text = SCHEMA.read_text()
    header = text[: text.index("--\n-- Table structure")]
    parts = re.split(r"(?=--\n-- Table structure for table `)", text)
    keep = [
        p for p in parts if (m := re.match(r"--\n-- Table structure for table `(\w+)`", p)) and m.group(1) in wanted
    ]
    return (header + "".join(keep)).encode()


def create_database(name: str) -> MySQLdb.Connection:
    """Drop and create `name` from the WHMCS 8.4 schema dump; returns a writable connection to it."""
    s = server()
    conn = MySQLdb.connect(host=s["host"], port=s["port"], user=s["user"], passwd=s["password"], charset="utf8mb4")
    cur = conn.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    subprocess.run(  # noqa: S603
        ["mysql", f"-h{s['host']}", f"-P{s['port']}", f"-u{s['user']}", f"-p{s['password']}", name],  # noqa: S607
        input=schema_sql(),
        check=True,
        capture_output=True,
    )
    conn = MySQLdb.connect(
        host=s["host"],
        port=s["port"],
        user=s["user"],
        passwd=s["password"],
        db=name,
        charset="utf8mb4",
        autocommit=True,
    )
    # Non-strict like many old WHMCS installs: omitted NOT NULL text columns become '', bad dates are kept.
    conn.cursor().execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
    return conn


def drop_database(name: str) -> None:
    s = server()
    conn = MySQLdb.connect(host=s["host"], port=s["port"], user=s["user"], passwd=s["password"])
    conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def insert(conn, table: str, rows: list[dict]) -> None:
    """Multi-row INSERTs (MySQLdb's executemany batches VALUES), for speed; rows grouped by their columns."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    cur = conn.cursor()
    for columns, group in groups.items():
        names = ", ".join(f"`{c}`" for c in columns)
        sql = f"INSERT INTO `{table}` ({names}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
        for start in range(0, len(group), 5000):
            cur.executemany(sql, [tuple(r[c] for c in columns) for r in group[start : start + 5000]])
    cur.close()


def php_bcrypt(password: str) -> str:
    hashed = bcrypt.hashpw(password.encode("utf-8")[:72], bcrypt.gensalt(rounds=4)).decode()
    return "$2y$" + hashed[4:]


def md5_salted(password: str, salt: str) -> str:
    return hashlib.md5((salt + password).encode(), usedforsecurity=False).hexdigest() + ":" + salt


def hmac_sha256(password: str, key: str) -> str:
    return hmac.new(key.encode(), password.encode(), hashlib.sha256).hexdigest() + ":" + key


def stored_hash(fmt: int, password: str, cid: int) -> str:
    """WHMCS's password hash formats: bcrypt, md5(salt.password):salt, hmac-sha256:key, bare md5."""
    if fmt == 0:
        return php_bcrypt(password)
    if fmt == 1:
        return md5_salted(password, f"s{cid:03d}x")
    if fmt == 2:
        return hmac_sha256(password, f"k{cid}")
    return hashlib.md5(password.encode(), usedforsecurity=False).hexdigest()


@dataclass
class History:
    passwords: dict[int, tuple[str, str]] = field(default_factory=dict)  # client id -> (email, password)
    dirty: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # name -> [(table, id)]
    clients: int = 0
    invoices: int = 0


CYCLES = ["Monthly", "Quarterly", "Semi-Annually", "Annually"]
SERVICE_STATUSES = ["Pending", "Active", "Suspended", "Terminated", "Cancelled", "Fraud", "Completed"]
PASSWORDS = ["pa\"ss'word", "Grüße-Ünïcödé ñ 密码", "plain-Password1", "x" * 80 + "ä", "quote'n\"back\\slash"]


def fill_history(conn, *, clients: int = 24, years: range = range(2021, 2026), seed: int = 7) -> History:
    rnd = random.Random(seed)
    h = History(clients=clients)
    cur = conn.cursor()
    # Currencies: USD (id 1, default) comes with the schema dump.
    insert(conn, "tblcurrencies", [
        {"id": 2, "code": "EUR", "prefix": "€", "suffix": " EUR", "format": 2, "rate": Decimal("0.92"), "default": 0},
        {"id": 3, "code": "GBP", "prefix": "£", "suffix": " GBP", "format": 2, "rate": Decimal("0.79"), "default": 0},
    ])  # fmt: skip
    insert(conn, "tblclientgroups", [
        {"id": 1, "groupname": "Resellers", "groupcolour": "#ff0000", "discountpercent": Decimal("10.00"), "susptermexempt": "on", "separateinvoices": ""},
        {"id": 2, "groupname": "VIP", "groupcolour": "#00ff00", "discountpercent": Decimal("0.00"), "susptermexempt": "", "separateinvoices": "on"},
    ])  # fmt: skip
    # Products: one per module; stock control on the dedicated one (dirty: negative stock).
    products = [
        (1, "VPS Small", "server", "virtfusion", 0, 0, 0, 0),
        (2, "Minecraft 4GB", "other", "pterodactyl", 0, 0, 0, 0),
        (3, "Dedicated E3", "server", "synergycp", 1, -2, 0, 0),
        (4, "Web Hosting Pro", "hostingaccount", "enhance", 0, 0, 1, 0),
        (5, "Legacy Plan", "hostingaccount", "cpanel", 0, 0, 0, 1),
    ]
    insert(conn, "tblproductgroups", [{"id": 1, "name": "Servers"}, {"id": 2, "name": "Hosting"}])
    insert(conn, "tblproducts", [
        {"id": pid, "type": ptype, "gid": 1 if ptype == "server" else 2, "name": name, "description": f"{name} plan",
         "servertype": module, "stockcontrol": stock, "qty": qty, "hidden": hidden, "retired": retired,
         "paytype": "recurring", "configoption1": f"pkg-{pid}", "order": pid}
        for pid, name, ptype, module, stock, qty, hidden, retired in products
    ])  # fmt: skip
    pricing, pid_ = [], 0
    base = {1: Decimal("5.00"), 2: Decimal("12.00"), 3: Decimal("89.00"), 4: Decimal("7.50"), 5: Decimal("3.00")}
    for pid in base:
        for currency in (1, 2, 3):
            pid_ += 1
            m = base[pid] * {1: 1, 2: Decimal("0.92"), 3: Decimal("0.79")}[currency]
            pricing.append({
                "id": pid_, "type": "product", "currency": currency, "relid": pid,
                "msetupfee": Decimal("0.00"), "qsetupfee": Decimal("0.00"), "ssetupfee": Decimal("0.00"),
                "asetupfee": Decimal("10.00"), "bsetupfee": Decimal("0.00"), "tsetupfee": Decimal("0.00"),
                "monthly": m.quantize(CENT), "quarterly": (m * 3).quantize(CENT),
                "semiannually": Decimal("-1.00"), "annually": (m * 11).quantize(CENT),
                "biennially": (m * 20).quantize(CENT) if pid == 3 else Decimal("-1.00"), "triennially": Decimal("-1.00"),
            })  # fmt: skip
    insert(conn, "tblpricing", pricing)
    insert(conn, "tblpromotions", [
        {"id": 1, "code": "WELCOME10", "type": "Percentage", "recurring": 0, "value": Decimal("10.00"), "uses": 3, "maxuses": 100},
        {"id": 2, "code": "FIVEOFF", "type": "Fixed Amount", "recurring": 1, "value": Decimal("5.00"), "uses": 1, "maxuses": 0},
    ])  # fmt: skip
    insert(conn, "tblpromotions", [{"id": 3, "code": "OVERRIDE", "type": "Price Override", "value": Decimal("1.00")}])
    h.dirty["coupon_unsupported_type"] = [("tblpromotions", 3)]
    insert(conn, "tbltax", [
        {"id": 1, "level": 1, "name": "VAT", "state": "", "country": "DE", "taxrate": Decimal("19.00")},
        {"id": 2, "level": 1, "name": "Sales tax", "state": "Texas", "country": "US", "taxrate": Decimal("6.25")},
        {"id": 3, "level": 2, "name": "Compound", "state": "", "country": "CA", "taxrate": Decimal("5.00")},
    ])  # fmt: skip
    h.dirty["tax_compound"] = [("tbltax", 3)]

    # Clients, users (every password hash format), contacts.
    client_rows, user_rows, links, contact_rows = [], [], [], []
    for cid in range(1, clients + 1):
        currency = (cid % 3) + 1
        email = f"client{cid}@example.com"
        first, last = f"First{cid}", f"Last{cid}"
        if cid == 2:
            last = "MÃ¼ller"  # latin-1 mojibake of Müller
        if cid == 3:
            email = "not-an-email"  # bad email
        if cid == 4:
            currency = 0  # unknown currency
        if cid == 5:
            email = "client6@example.com"  # the same email as client 6 (6's owner user takes it)
        password = PASSWORDS[cid % len(PASSWORDS)]
        fmt = cid % 4
        stored = stored_hash(fmt, password, cid)
        status = ["Active", "Active", "Inactive", "Closed"][cid % 4]
        client_rows.append({
            "id": cid, "firstname": first, "lastname": last, "companyname": f"Company {cid}" if cid % 2 else "",
            "email": email, "address1": f"{cid} Main St", "city": "Berlin" if currency == 2 else "London",
            "state": "", "postcode": f"{10000 + cid}", "country": ["US", "DE", "GB"][cid % 3], "phonenumber": "+1.555",
            "tax_id": f"DE{100000000 + cid}" if cid % 5 == 0 else "", "currency": currency, "credit": Decimal("0.00"),
            "taxexempt": cid % 7 == 0, "status": status, "groupid": cid % 3, "language": "german" if currency == 2 else "",
            "emailoptout": cid % 2, "marketing_emails_opt_in": cid % 3 == 0, "notes": f"Note for {cid}",
            "datecreated": dt.date(years.start, 1, 1) + dt.timedelta(days=cid), "password": stored if cid % 6 == 0 else "",
            "defaultgateway": "stripe",
        })  # fmt: skip
        if cid % 6 != 0:  # WHMCS 8 login user (clients divisible by 6 keep only a legacy tblclients.password)
            user_rows.append({"id": cid, "first_name": first, "last_name": last, "email": email, "password": stored,
                              "created_at": "2021-01-01 00:00:00", "updated_at": "2021-01-01 00:00:00"})  # fmt: skip
            links.append({"auth_user_id": cid, "client_id": cid, "owner": 1})
        if cid not in (3, 5):
            h.passwords[cid] = (email, password)
        if cid % 4 == 1:
            contact_rows.append({"id": cid, "userid": cid, "firstname": "Billing", "lastname": f"Contact{cid}",
                                 "email": f"billing{cid}@example.com", "invoiceemails": 1})  # fmt: skip
    contact_rows.append(
        {"id": 999, "userid": 9999, "firstname": "Orphan", "lastname": "Contact", "email": "o@example.com"}
    )
    h.dirty["contact_broken_client"] = [("tblcontacts", 999)]
    h.dirty["mojibake"] = [("tblclients", 2)]
    h.dirty["bad_email"] = [("tblclients", 3)]
    h.dirty["unknown_currency"] = [("tblclients", 4)]
    insert(conn, "tblclients", client_rows)
    insert(conn, "tblusers", user_rows)
    insert(conn, "tblusers_clients", links)
    insert(conn, "tblcontacts", contact_rows)

    # Services: every status, across products; one with a broken product reference.
    services, sid = [], 0
    for cid in range(1, clients + 1):
        for k in range(2):
            sid += 1
            pid = (sid % 5) + 1
            services.append({
                "id": sid, "userid": cid, "packageid": pid, "regdate": dt.date(years.start, 2, 1),
                "domain": f"srv{sid}.example.net", "paymentmethod": "stripe", "firstpaymentamount": base[pid],
                "amount": base[pid], "billingcycle": CYCLES[sid % 4], "nextduedate": dt.date(years.stop, 1, 15),
                "domainstatus": SERVICE_STATUSES[sid % len(SERVICE_STATUSES)], "username": f"user{sid}",
                "dedicatedip": f"10.0.{cid}.{k + 1}", "assignedips": f"10.1.{cid}.{k + 1}\n10.2.{cid}.{k + 1}",
                "server": 1, "qty": 1, "password": "encrypted-blob",
            })  # fmt: skip
    services.append({"id": 900, "userid": 1, "packageid": 77, "domainstatus": "Active", "domain": "broken.example",
                     "regdate": dt.date(years.start, 3, 1), "billingcycle": "Monthly", "amount": Decimal("1.00")})  # fmt: skip
    h.dirty["service_broken_product"] = [("tblhosting", 900)]
    insert(conn, "tblhosting", services)
    insert(conn, "tbladdons", [{"id": 1, "name": "Extra IPv4", "packages": "1,2", "billingcycle": "Monthly"}])
    insert(conn, "tblhostingaddons", [
        {"id": 1, "orderid": 1, "hostingid": 1, "addonid": 1, "userid": 1, "name": "", "qty": 1, "setupfee": Decimal("0.00"),
         "recurring": Decimal("2.00"), "billingcycle": "Monthly", "status": "Active", "nextduedate": dt.date(years.stop, 1, 15)},
    ])  # fmt: skip
    insert(conn, "tblorders", [
        {"id": cid, "ordernum": 1000 + cid, "userid": cid, "date": f"{years.start}-02-01 10:00:00", "amount": Decimal("5.00"),
         "invoiceid": 0, "status": ["Pending", "Active", "Cancelled", "Fraud"][cid % 4], "ipaddress": f"192.0.2.{cid}",
         "promocode": "WELCOME10" if cid % 5 == 0 else ""}
        for cid in range(1, clients + 1)
    ])  # fmt: skip
    insert(conn, "tblticketdepartments", [{"id": 1, "name": "Support", "email": "support@example.com"}])
    insert(conn, "tbltickets", [
        {"id": t, "tid": f"ABC-{t:05d}", "did": 1, "userid": t if t < 5 else 0, "name": "Guest" if t >= 5 else "",
         "email": "guest@example.org" if t >= 5 else "", "c": "x", "date": f"2024-0{t}-01 09:00:00",
         "title": f"Help {t}", "message": "My server is down – Grüße", "status": "Closed" if t % 2 else "Open",
         "urgency": "High", "lastreply": f"2024-0{t}-02 09:00:00"}
        for t in range(1, 7)
    ])  # fmt: skip
    insert(conn, "tblticketreplies", [
        {"id": r, "tid": (r % 6) + 1, "userid": 0, "name": "", "email": "", "date": f"2024-06-0{r} 10:00:00",
         "message": f"Reply {r}", "admin": "Alice Admin" if r % 2 else ""}
        for r in range(1, 10)
    ])  # fmt: skip
    insert(conn, "tblactivitylog", [
        {"id": a, "date": f"2023-01-{a:02d} 12:00:00", "description": f"Client login (User ID: {a})", "user": "Client",
         "userid": a, "user_id": a, "admin_id": 0, "ipaddr": f"198.51.100.{a}"}
        for a in range(1, 21)
    ])  # fmt: skip
    insert(conn, "tblpaymethods", [{"id": 1, "userid": 1, "description": "Visa", "payment_id": 1,
                                    "payment_type": "RemoteCreditCard", "gateway_name": "stripe"}])  # fmt: skip
    insert(conn, "tblcreditcards", [{"id": 1, "pay_method_id": 1, "card_type": "Visa", "last_four": "4242",
                                     "card_data": b"encrypted"}])  # fmt: skip
    cur.execute("UPDATE tblclients SET gatewayid = CONCAT('cus_TEST', id) WHERE id <= 10")
    insert(conn, "tblcancelrequests", [{"id": 1, "relid": 4, "reason": "Too expensive", "type": "End of Billing Period",
                                        "date": "2024-05-01 10:00:00"}])  # fmt: skip

    # Invoices, lines, transactions, credit.
    inv, items, accounts, credit = [], [], [], []
    balances: dict[int, Decimal] = {}
    iid = item_id = acc_id = credit_id = 0
    statuses = ["Paid", "Paid", "Paid", "Unpaid", "Cancelled", "Refunded", "Collections", "Payment Pending", "Draft"]
    txn = 0

    def add_invoice(cid, date, status, lines, *, credit_applied=Decimal("0.00"), invoicenum="", taxrate=Decimal("0")):
        nonlocal iid, item_id, acc_id, txn
        iid += 1
        subtotal = sum((amt for _t, _d, amt, _x in lines), Decimal("0.00"))
        taxed = sum((amt for _t, _d, amt, tx in lines if tx), Decimal("0.00"))
        tax = (taxed * taxrate / 100).quantize(CENT)
        total = subtotal + tax - credit_applied  # credit-applied invoices store total net of credit
        inv.append({"id": iid, "userid": cid, "invoicenum": invoicenum, "date": date, "duedate": date + dt.timedelta(days=7),
                    "datepaid": f"{date} 12:00:00" if status in ("Paid", "Refunded") else "0000-00-00 00:00:00",
                    "subtotal": subtotal, "credit": credit_applied, "tax": tax, "tax2": Decimal("0.00"), "total": total,
                    "taxrate": taxrate, "taxrate2": Decimal("0"), "status": status, "paymentmethod": "stripe",
                    "created_at": f"{date} 08:00:00", "updated_at": f"{date} 08:00:00"})  # fmt: skip
        for ltype, desc, amount, is_taxed in lines:
            item_id += 1
            items.append({"id": item_id, "invoiceid": iid, "userid": cid, "type": ltype, "relid": (cid - 1) * 2 + 1,
                          "description": desc, "amount": amount, "taxed": int(is_taxed)})  # fmt: skip
        return iid, total

    def pay(cid, invoice, date, amount, *, gateway="stripe", fee=None, transid=None):
        nonlocal acc_id, txn
        acc_id += 1
        txn += 1
        fee = (amount * Decimal("0.029") + Decimal("0.30")).quantize(CENT) if fee is None else fee
        accounts.append({"id": acc_id, "userid": cid, "currency": 0, "gateway": gateway, "date": f"{date} 12:00:00",
                         "description": f"Invoice Payment #{invoice}", "amountin": amount, "fees": fee,
                         "amountout": Decimal("0.00"), "transid": transid or f"ch_{txn:08d}", "invoiceid": invoice,
                         "refundid": 0, "rate": Decimal("1")})  # fmt: skip
        return acc_id, fee

    for cid in range(1, clients + 1):
        balances[cid] = Decimal("0.00")
        for year in years:
            for month in (2, 7, 11):
                date = dt.date(year, month, 1 + (cid % 27))
                status = statuses[(cid + year + month) % len(statuses)]
                price = Decimal(rnd.randrange(300, 15000)) / 100
                lines = [
                    (
                        "Hosting",
                        f"VPS Small - srv{cid}.example.net ({date} - {date + dt.timedelta(days=30)})",
                        price,
                        True,
                    )
                ]
                if month == 7:
                    lines.append(("Setup", "Setup fee", Decimal("10.00"), True))
                if month == 11 and cid % 3 == 0:
                    lines.append(
                        ("PromoHosting", "Promotional code WELCOME10 - 10% off", -(price / 10).quantize(CENT), True)
                    )
                number = f"{year}{cid:04d}{month:02d}" if cid % 2 else ""
                # Credit: some clients top up credit, then an invoice uses it.
                applied = Decimal("0.00")
                if status == "Paid" and cid % 4 == 0 and month == 2:
                    nonlocal_credit = Decimal("20.00")
                    credit.append(
                        {
                            "clientid": cid,
                            "date": date,
                            "description": "Added funds",
                            "amount": nonlocal_credit,
                            "relid": 0,
                        }
                    )
                    balances[cid] += nonlocal_credit
                    applied = Decimal("15.00")
                invoice, total = add_invoice(cid, date, status, lines, credit_applied=applied, invoicenum=number,
                                             taxrate=Decimal("19.00") if cid % 3 == 1 else Decimal("0"))  # fmt: skip
                if applied:
                    credit.append({"clientid": cid, "date": date, "description": f"Credit Applied to Invoice #{invoice}",
                                   "amount": -applied, "relid": invoice})  # fmt: skip
                    balances[cid] -= applied
                if status in ("Paid", "Refunded") and total > 0:
                    paid_id, fee = pay(cid, invoice, date, total)
                    if status == "Refunded":
                        acc_id_ref = acc_id + 1
                        accounts.append({"id": acc_id_ref, "userid": cid, "currency": 0, "gateway": "stripe",
                                         "date": f"{date + dt.timedelta(days=3)} 09:00:00", "description": "Refund",
                                         "amountin": Decimal("0.00"), "fees": -fee, "amountout": total,
                                         "transid": f"re_{acc_id_ref:08d}", "invoiceid": invoice, "refundid": paid_id,
                                         "rate": Decimal("1")})  # fmt: skip
                        acc_id = acc_id_ref
                elif status == "Collections" and total > 5:
                    pay(
                        cid,
                        invoice,
                        date + dt.timedelta(days=40),
                        Decimal("5.00"),
                        gateway="banktransfer",
                        fee=Decimal("0.00"),
                    )
    # Mass payment: client 7 pays two unpaid invoices through one mass-pay invoice.
    d = dt.date(years.stop - 1, 12, 10)
    a, ta = add_invoice(7, d, "Paid", [("Hosting", "VPS Small", Decimal("20.00"), False)])
    b, tb = add_invoice(7, d, "Paid", [("Hosting", "Game server", Decimal("30.00"), False)])
    mass_lines = [("Invoice", f"Invoice #{a}", ta, False), ("Invoice", f"Invoice #{b}", tb, False)]
    # Its number is one our own format could produce: our series must continue after it.
    mass, tm = add_invoice(7, d, "Paid", mass_lines, invoicenum=f"INV-{years.stop - 1}-000042")
    pay(7, mass, d, tm, gateway="paypal", transid="PAYID-MASS-1")
    h.dirty["mass_payment"] = [("tblinvoices", mass)]
    # Dirty invoices.
    zero, _ = add_invoice(8, dt.date(2022, 5, 1), "Unpaid", [("Hosting", "Zero date invoice", Decimal("9.00"), False)])
    impossible, _ = add_invoice(
        9, dt.date(2022, 2, 1), "Unpaid", [("Hosting", "Impossible date", Decimal("4.00"), False)]
    )
    orphan, t_orphan = add_invoice(
        9999, dt.date(2023, 3, 3), "Paid", [("Item", "Orphan invoice", Decimal("11.00"), False)]
    )
    nolines, _ = add_invoice(10, dt.date(2023, 4, 4), "Unpaid", [])
    inv[-1].update(subtotal=Decimal("25.00"), total=Decimal("25.00"))
    mismatch, _ = add_invoice(11, dt.date(2023, 6, 6), "Unpaid", [("Hosting", "Mismatch", Decimal("8.00"), False)])
    inv[-1].update(subtotal=Decimal("9.50"), total=Decimal("9.50"))
    for row in inv:
        if row["id"] == zero:
            row["date"] = "0000-00-00"
        if row["id"] == impossible:
            row["date"] = "2022-02-30"
    h.dirty["invoice_zero_date"] = [("tblinvoices", zero)]
    h.dirty["invoice_impossible_date"] = [("tblinvoices", impossible)]
    h.dirty["invoice_broken_client"] = [("tblinvoices", orphan)]
    h.dirty["invoice_without_lines"] = [("tblinvoices", nolines)]
    h.dirty["invoice_lines_mismatch"] = [("tblinvoices", mismatch)]
    # Dirty transactions: not linked to a client; duplicated gateway transaction id.
    pay(9999, orphan, dt.date(2023, 3, 3), t_orphan)
    accounts[-1]["currency"] = 2
    h.dirty["transaction_broken_client"] = [("tblaccounts", acc_id)]
    dup_invoice, dup_total = add_invoice(
        12, dt.date(2024, 8, 8), "Paid", [("Hosting", "Dup txn", Decimal("6.00"), False)]
    )
    pay(12, dup_invoice, dt.date(2024, 8, 8), dup_total, transid="ch_00000001")
    h.dirty["duplicate_transid"] = [("tblaccounts", acc_id)]
    # Credit: a zero row and a client whose balance disagrees with its ledger.
    credit.append(
        {"clientid": 13, "date": dt.date(2024, 1, 1), "description": "Zero", "amount": Decimal("0.00"), "relid": 0}
    )
    credit.append(
        {"clientid": 14, "date": dt.date(2024, 1, 1), "description": "Goodwill", "amount": Decimal("7.00"), "relid": 0}
    )
    balances[14] += Decimal("7.00")
    for i, row in enumerate(credit, start=1):
        row["id"] = credit_id = i
    h.dirty["credit_zero"] = [("tblcredit", credit_id - 1)]
    insert(conn, "tblinvoices", inv)
    insert(conn, "tblinvoiceitems", items)
    insert(conn, "tblaccounts", accounts)
    insert(conn, "tblcredit", credit)
    for cid, balance in balances.items():
        cur.execute("UPDATE tblclients SET credit = %s WHERE id = %s", [balance, cid])
    cur.execute("UPDATE tblclients SET credit = credit + 3.00 WHERE id = 15")  # disagrees with its ledger
    h.dirty["credit_disagrees"] = [("tblclients", 15)]
    h.invoices = iid
    cur.close()
    return h
