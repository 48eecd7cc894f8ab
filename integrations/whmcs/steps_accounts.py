"""Currencies, client groups, clients with their login users and details, contacts."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from core import clock
from core.accounts.hashers import whmcs_encoded_password
from core.accounts.models import Customer
from core.catalog.models import Currency
from core.imports.models import ClientGroup, ImportedClientDetails, ImportedContact
from core.imports.services import sync_rows

from .cleaning import clean_email, fix_text, money, parse_datetime
from .mappings import CLIENT_STATUS
from .run import Run

User = get_user_model()


def import_currencies(run: Run) -> None:
    """Currencies by code; rates only when WHMCS's default currency is our reporting currency."""
    stats = run.report.table("tblcurrencies")
    rows = run.source.query("SELECT id, code, prefix, suffix, rate, `default` FROM tblcurrencies ORDER BY id")
    stats.read += len(rows)
    default = next((r for r in rows if r["default"]), rows[0] if rows else None)
    rates_apply = default is not None and default["code"].upper() == settings.DEFAULT_CURRENCY
    if default is not None and not rates_apply:
        run.report.notes.append(
            f"WHMCS's default currency is {default['code']}, ours is {settings.DEFAULT_CURRENCY}: "
            "exchange rates were not copied."
        )
    for row in rows:
        code = (row["code"] or "").strip().upper()
        if len(code) != 3:
            run.report.skip("tblcurrencies", row["id"], f"currency code {row['code']!r} is not ISO 4217")
            continue
        run.currency_by_id[row["id"]] = code
        rate = Decimal(str(row["rate"])) if rates_apply and row["rate"] and row["rate"] > 0 else None
        found = Currency.objects.filter(code=code).first()
        if found is None:
            Currency.objects.create(
                code=code,
                name=code,
                symbol=(row["prefix"] or row["suffix"] or code).strip()[:8],
                exchange_rate=rate or Decimal("1"),
            )
            stats.imported += 1
        elif rate is not None and found.exchange_rate != rate:
            Currency.objects.filter(code=code).update(exchange_rate=rate)
            stats.updated += 1
        else:
            stats.unchanged += 1
    run.default_currency = run.currency_by_id.get(default["id"]) if default else settings.DEFAULT_CURRENCY


def load_currencies(run: Run) -> None:
    """The currency map without writing (for --only runs that skip the currencies step)."""
    for row in run.source.query("SELECT id, code, `default` FROM tblcurrencies ORDER BY id"):
        code = (row["code"] or "").strip().upper()
        if len(code) == 3:
            run.currency_by_id[row["id"]] = code
            if row["default"] or not run.default_currency:
                run.default_currency = code


def import_client_groups(run: Run) -> None:
    stats = run.report.table("tblclientgroups")
    rows = run.source.query("SELECT * FROM tblclientgroups ORDER BY id")
    stats.read += len(rows)
    mapped = {
        r["id"]: {
            "name": fix_text(r["groupname"], 100)[0] or f"Group {r['id']}",
            "colour": (r["groupcolour"] or "")[:16],
            "discount_percent": money(r["discountpercent"]),
            "suspension_exempt": r["susptermexempt"] == "on",
            "separate_invoices": r["separateinvoices"] == "on",
        }
        for r in rows
    }
    _count(stats, sync_rows(ClientGroup, mapped))


def _count(stats, result) -> None:
    stats.imported += result.created
    stats.updated += result.updated
    stats.unchanged += result.unchanged


CLIENT_COLUMNS = (
    "id, firstname, lastname, companyname, email, address1, address2, city, state, postcode, country, phonenumber, "
    "tax_id, password, currency, defaultgateway, credit, taxexempt, notes, groupid, status, language, emailoptout, "
    "marketing_emails_opt_in, CAST(datecreated AS CHAR) AS datecreated"
)


def import_clients(run: Run) -> None:
    """Clients as Customers, each with one login User (the owning WHMCS user, else the client's own email).

    Rules: a bad or already-taken email gets the placeholder whmcs-client-<id>@import.invalid (the
    client cannot log in until staff set a real address); an unknown currency becomes WHMCS's default.
    A password changed in WHMCS is copied only while ours is still the imported WHMCS hash.
    """
    groups = dict(ClientGroup.objects.values_list("whmcs_id", "pk"))
    for rows in run.batches("tblclients", CLIENT_COLUMNS, since_column="updated_at"):
        with transaction.atomic():
            _import_client_batch(run, rows, groups)


def _owner_users(run: Run, client_ids: list[int]) -> dict[int, dict]:
    marks = ",".join(["%s"] * len(client_ids))
    found: dict[int, dict] = {}
    where = f"uc.client_id IN ({marks})"
    sql = (
        "SELECT uc.client_id, u.id, u.email, u.first_name, u.last_name, u.password, "  # noqa: S608 (only %s placeholders are formatted in)
        "CAST(u.email_verified_at AS CHAR) AS email_verified_at FROM tblusers_clients uc "
        "JOIN tblusers u ON u.id = uc.auth_user_id WHERE " + where + " ORDER BY uc.owner DESC, uc.id"
    )
    for row in run.source.query(
        sql,
        client_ids,
    ):
        found.setdefault(row["client_id"], row)
    return found


def _import_client_batch(run: Run, rows: list[dict], groups: dict) -> None:
    report, table = run.report, "tblclients"
    owners = _owner_users(run, [r["id"] for r in rows])
    existing = {
        c["whmcs_id"]: c
        for c in Customer.objects.filter(whmcs_id__in=[r["id"] for r in rows]).values(
            "whmcs_id", "user_id", "user__email", "user__password"
        )
    }
    wanted_emails = {}
    for r in rows:
        owner = owners.get(r["id"])
        email = clean_email(owner["email"] if owner else r["email"])
        if email is None:
            report.repair(table, r["id"], f"bad email {(owner or r)['email']!r}: placeholder address used")
            email = f"whmcs-client-{r['id']}@import.invalid"
        wanted_emails[r["id"]] = email
    taken = {
        e.lower(): pk
        for pk, e in User.objects.filter(email__in=list(wanted_emails.values())).values_list("pk", "email")
    }
    seen: set[str] = set()
    final_email: dict[int, str] = {}
    customers, details, users_new, user_updates = {}, {}, [], {}
    for r in rows:
        cid = r["id"]
        owner = owners.get(cid)
        stored = existing.get(cid)
        email = wanted_emails[cid]
        own_pk = stored["user_id"] if stored else None
        if email in seen or (email in taken and taken[email] != own_pk):
            report.repair(table, cid, f"email {email} belongs to another login: placeholder address used")
            email = f"whmcs-client-{cid}@import.invalid"
        seen.add(email)
        final_email[cid] = email
        currency = run.currency_code(r["currency"])
        if currency is None:
            report.repair(table, cid, f"unknown currency id {r['currency']}: WHMCS default {run.default_currency}")
            currency = run.default_currency
        first, p1 = fix_text(owner["first_name"] if owner else r["firstname"], 150)
        last, p2 = fix_text(owner["last_name"] if owner else r["lastname"], 150)
        company, p3 = fix_text(r["companyname"], 200)
        city, p4 = fix_text(r["city"], 100)
        line1, p5 = fix_text(r["address1"], 200)
        for problem in (p1, p2, p3, p4, p5):
            if problem:
                report.repair(table, cid, problem)
        created, problem = parse_datetime(r["datecreated"])
        if problem:
            report.repair(table, cid, f"{problem}: creation date left as the import time")
        password = whmcs_encoded_password((owner or {}).get("password") or r["password"] or "")
        user_values = {"email": email, "first_name": first, "last_name": last, "is_active": r["status"] != "Closed"}
        if stored is None:
            users_new.append(User(password=password, date_joined=created or clock.now(), **user_values))
        else:
            if stored["user__password"].startswith("whmcs_") or not stored["user__password"]:
                user_values["password"] = password
            user_updates[stored["user_id"]] = user_values
        customers[cid] = {
            "company": company,
            "phone": fix_text(r["phonenumber"], 40)[0],
            "address_line1": line1,
            "address_line2": fix_text(r["address2"], 200)[0],
            "city": city,
            "region": fix_text(r["state"], 100)[0],
            "postal_code": fix_text(r["postcode"], 20)[0],
            "country": (r["country"] or "")[:2].upper(),
            "vat_id": (r["tax_id"] or "")[:32],
            "is_tax_exempt": bool(r["taxexempt"]),
            "currency_id": currency,
            "status": CLIENT_STATUS.get(r["status"], "active"),
            "notes": fix_text(r["notes"])[0],
        }
        if created:
            customers[cid]["created_at"] = created
        details[cid] = {
            "whmcs_status": (r["status"] or "")[:16],
            "group_id": groups.get(r["groupid"]),
            "language": (r["language"] or "")[:32],
            "email_opt_out": bool(r["emailoptout"]),
            "marketing_opt_in": bool(r["marketing_emails_opt_in"]),
            "default_gateway": (r["defaultgateway"] or "")[:64],
            "credit_balance": money(r["credit"]),
        }
    if users_new:
        User.objects.bulk_create(users_new, batch_size=1000)
        new_pks = dict(User.objects.filter(email__in=[u.email for u in users_new]).values_list("email", "pk"))
        for r in rows:
            if r["id"] not in existing:
                customers[r["id"]]["user_id"] = new_pks[final_email[r["id"]]]
    if user_updates:
        sync_rows(User, user_updates, key="id")
    result = sync_rows(Customer, customers)
    _count(report.table(table), result)
    for cid, values in details.items():
        values["customer_id"] = result.pks[cid]
    sync_rows(ImportedClientDetails, details)


def import_contacts(run: Run) -> None:
    customers = dict(Customer.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "pk"))
    columns = (
        "id, userid, firstname, lastname, companyname, email, phonenumber, generalemails, invoiceemails, "
        "productemails, supportemails, domainemails, affiliateemails"
    )
    for rows in run.batches("tblcontacts", columns, since_column="updated_at"):
        mapped = {}
        for r in rows:
            customer = customers.get(r["userid"])
            if customer is None:
                run.report.skip("tblcontacts", r["id"], f"client {r['userid']} does not exist")
                continue
            mapped[r["id"]] = {
                "customer_id": customer,
                "first_name": fix_text(r["firstname"], 150)[0],
                "last_name": fix_text(r["lastname"], 150)[0],
                "company": fix_text(r["companyname"], 200)[0],
                "email": (r["email"] or "")[:254],
                "phone": (r["phonenumber"] or "")[:40],
                "email_preferences": {
                    k: bool(r[k + "emails"])
                    for k in ("general", "invoice", "product", "support", "domain", "affiliate")
                },
            }
        with transaction.atomic():
            _count(run.report.table("tblcontacts"), sync_rows(ImportedContact, mapped))
