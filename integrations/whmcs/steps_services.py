"""Services (tblhosting) with their WHMCS billing facts, subscriptions, configurable options,
passwords (with WHMCS's encryption key only), cancellation requests and addons.

Subscriptions: each service on a recurring cycle (Monthly to Triennially) gets a core.billing
Subscription keyed by the service's WHMCS id, so our billing run renews it after cutover and MRR
counts it: cycle, tblhosting.amount (WHMCS's recurring total, configurable options included, so
nothing is added on top), the client's currency, and a current period ending at the date WHMCS
bills next. That date is nextduedate, or nextinvoicedate when it is later (WHMCS has already
invoiced the period from nextduedate; that invoice is imported as an open invoice, and our first
renewal is the period after it, so the period is not invoiced twice; which of the two dates WHMCS
advances when is UNCONFIRMED, services.md 7). Status: Active and Suspended -> active; Cancelled ->
cancelled; Terminated, Fraud and Completed -> ended; Pending services get none until WHMCS
activates them; 'One Time' and 'Free Account' services never renew and get none. A recurring
service whose product has no price for its currency and cycle (a retired cycle, a custom deal)
gets an inactive Price for it (reported), since a subscription names its price. A cancellation
request on a running service sets cancel at period end.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from types import SimpleNamespace

from dateutil.relativedelta import relativedelta
from django.db import transaction

from core import clock
from core.accounts.models import Customer
from core.billing.models import Subscription
from core.catalog.models import CYCLE_MONTHS, Price, Product
from core.encryption import fernet
from core.provisioning.models import Service
from core.usage.addresses import sync_addresses_in_bulk

from .bulk import sync_range
from .cleaning import ZERO, fix_text, money, parse_date, parse_datetime
from .crypto import DecryptError, decrypt, hash_key
from .mappings import SERVICE_STATUS, service_cycle
from .run import Run
from .steps_accounts import _count

SERVICE_COLUMNS = (
    "id, userid, orderid, packageid, server, CAST(regdate AS CHAR) AS regdate, domain, paymentmethod, qty, "
    "firstpaymentamount, amount, billingcycle, CAST(nextduedate AS CHAR) AS nextduedate, "
    "CAST(nextinvoicedate AS CHAR) AS nextinvoicedate, "
    "CAST(termination_date AS CHAR) AS termination_date, domainstatus, username, notes, subscriptionid, promoid, "
    "suspendreason, dedicatedip, assignedips"
)
SUBSCRIPTION_STATUS = {
    "Active": Subscription.Status.ACTIVE,
    "Suspended": Subscription.Status.ACTIVE,
    "Cancelled": Subscription.Status.CANCELLED,
    "Terminated": Subscription.Status.ENDED,
    "Fraud": Subscription.Status.ENDED,
    "Completed": Subscription.Status.ENDED,
}
SUBSCRIPTIONS = "tblhosting.subscription"  # report rows of the subscriptions made from services
PASSWORDS = "tblhosting.password"  # report rows of service passwords


def _ip(value) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def _addons(run: Run, first: int, last: int) -> dict[int, list[dict]]:
    """Addons of the services first..last, kept on the service (we have no addon model)."""
    found: dict[int, list[dict]] = {}
    rows = run.source.query(
        "SELECT a.id, a.hostingid, a.addonid, COALESCE(NULLIF(a.name, ''), d.name) AS name, a.qty, a.setupfee, "
        "a.recurring, a.billingcycle, a.status, CAST(a.nextduedate AS CHAR) AS nextduedate FROM tblhostingaddons a "
        "LEFT JOIN tbladdons d ON d.id = a.addonid WHERE a.hostingid BETWEEN %s AND %s ORDER BY a.id",
        [first, last],
    )
    run.report.table("tblhostingaddons").read += len(rows)
    for a in rows:
        found.setdefault(a["hostingid"], []).append({
            "whmcs_id": a["id"], "name": fix_text(a["name"])[0], "quantity": a["qty"],
            "setup_fee": str(money(a["setupfee"])), "recurring": str(money(a["recurring"])),
            "billing_cycle": a["billingcycle"], "status": a["status"], "next_due_date": a["nextduedate"],
        })  # fmt: skip
    return found


def _option_names(run: Run) -> tuple[dict[int, dict], dict[int, str]]:
    """Configurable options (id -> name, type) and their choices (id -> name): small tables, read once."""
    options = {
        o["id"]: {"name": fix_text(o["optionname"])[0], "type": str(o["optiontype"]).strip()}
        for o in run.source.query("SELECT id, optionname, optiontype FROM tblproductconfigoptions")
    }
    choices = {
        c["id"]: fix_text(c["optionname"])[0]
        for c in run.source.query("SELECT id, optionname FROM tblproductconfigoptionssub")
    }
    return options, choices


def _chosen_options(run: Run, first: int, last: int, options: dict, choices: dict) -> dict[int, list[dict]]:
    """Each service's configurable options (tblhostingconfigoptions) for services first..last: one query."""
    found: dict[int, list[dict]] = {}
    rows = run.source.query(
        "SELECT id, relid, configid, optionid, qty FROM tblhostingconfigoptions WHERE relid BETWEEN %s AND %s "
        "ORDER BY relid, id",
        [first, last],
    )
    run.report.table("tblhostingconfigoptions").read += len(rows)
    for r in rows:
        option = options.get(r["configid"])
        if option is None:
            run.report.skip("tblhostingconfigoptions", r["id"], f"configurable option {r['configid']} does not exist")
            continue
        chosen = {"whmcs_id": r["id"], "option_id": r["configid"], "option": option["name"]}
        if option["type"] == "4":  # quantity: the number is the choice
            chosen["quantity"] = r["qty"]
        elif option["type"] == "3":  # yes/no: a row with qty 1 means yes
            chosen["choice"] = "yes" if r["qty"] else "no"
            chosen["choice_id"] = r["optionid"]
        else:
            chosen["choice_id"] = r["optionid"]
            chosen["choice"] = choices.get(r["optionid"], "")
        found.setdefault(r["relid"], []).append(chosen)
    return found


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


class _Prices:
    """(product, currency, cycle) -> Price id, loaded once; missing ones are added inactive per batch."""

    def __init__(self):
        self.by_key = {
            (p, c, cy): pk
            for pk, p, c, cy in Price.objects.filter(product__whmcs_id__isnull=False).values_list(
                "pk", "product_id", "currency_id", "cycle"
            )
        }

    def add_missing(self, run: Run, wanted: dict[tuple, tuple]) -> None:
        """wanted: (product, currency, cycle) -> (amount, WHMCS service id) of a service that needs it."""
        missing = {k: v for k, v in wanted.items() if k not in self.by_key}
        if not missing:
            return
        Price.objects.bulk_create([
            Price(product_id=p, currency_id=c, cycle=cy, amount=max(amount, ZERO), is_active=False)
            for (p, c, cy), (amount, _sid) in missing.items()
        ])  # fmt: skip
        for (p, c, cy), (amount, sid) in missing.items():
            run.report.repair(SUBSCRIPTIONS, sid, f"product {p} has no {cy} price in {c}: added an inactive "
                              f"price of {amount} for its subscriptions")  # fmt: skip
        self.by_key.update(
            {
                (p, c, cy): pk
                for pk, p, c, cy in Price.objects.filter(
                    product_id__in={k[0] for k in missing}, cycle__in={k[2] for k in missing}
                ).values_list("pk", "product_id", "currency_id", "cycle")
            }
        )


def _subscription(run: Run, r: dict, customer: dict, product: dict, next_due, cancellation) -> dict | None:
    """The subscription values for one service row, or None when it gets none (reported where it matters)."""
    cycle = service_cycle(r["billingcycle"])
    status = SUBSCRIPTION_STATUS.get(r["domainstatus"])
    if cycle is None or status is None:
        return None  # One Time / Free Account, or Pending: nothing renews
    amount = money(r["amount"])
    if amount < 0:
        run.report.repair(SUBSCRIPTIONS, r["id"], f"negative recurring amount {amount} set to 0.00")
        amount = ZERO
    next_invoice, _ = parse_date(r["nextinvoicedate"])
    end_day = max(d for d in (next_due, next_invoice) if d) if (next_due or next_invoice) else None
    terminated, _ = parse_datetime(r["termination_date"])
    created, _ = parse_datetime(r["regdate"])
    ended = status != Subscription.Status.ACTIVE
    if end_day is None:
        fallback = terminated or created
        if not ended or fallback is None:
            run.report.skip(SUBSCRIPTIONS, r["id"], "no next due date: no subscription (it would never renew)")
            return None
        end_day = fallback.date()
    end = _midnight(end_day)
    start = end - relativedelta(months=CYCLE_MONTHS[cycle])
    values = {
        "customer_id": customer["pk"],
        "currency_id": customer["currency_id"],
        "cycle": cycle,
        "amount": amount,
        "status": status,
        "current_period_start": start,
        "current_period_end": end,
        "cancel_at_period_end": bool(cancellation) and not ended,
        "cancelled_at": None,
        "ended_at": None,
        "cancel_comment": (cancellation or {}).get("reason", ""),
        "_price_key": (product["pk"], customer["currency_id"], cycle),
    }
    if cancellation:
        values["cancelled_at"], _ = parse_datetime(cancellation["date"])
    if ended:
        values["ended_at"] = terminated or end
        if status == Subscription.Status.CANCELLED:
            values["cancelled_at"] = values["cancelled_at"] or values["ended_at"]
    if created:
        values["created_at"] = created
    return values


def _passwords(run: Run, rows: list[dict], mask: bytes | None) -> dict[int, str]:
    """Decrypted service passwords of a batch (only with the key); failures are reported, never stored."""
    if mask is None:
        return {}
    found = {}
    for r in rows:
        stored = r.get("password") or ""
        if not stored:
            continue
        run.report.table(PASSWORDS).read += 1
        try:
            found[r["id"]] = decrypt(stored, "", mask=mask)
        except DecryptError as exc:
            run.report.skip(PASSWORDS, r["id"], f"password not imported: {exc}")
    return found


def import_services(run: Run) -> None:
    """Services with status, platform, ids, configurable options and (with the key) passwords; their
    subscriptions; their addresses registered for bandwidth metering."""
    report, table = run.report, "tblhosting"
    customers = {
        c["whmcs_id"]: c
        for c in Customer.objects.filter(whmcs_id__isnull=False).values("whmcs_id", "pk", "currency_id")
    }
    products = {
        p["whmcs_id"]: p
        for p in Product.objects.filter(whmcs_id__isnull=False).values("whmcs_id", "pk", "platform_connection_id")
    }
    prices = _Prices()
    options, choices = _option_names(run)
    mask = hash_key(run.encryption_key) if run.encryption_key else None
    if mask is None:
        report.notes.append(
            "Service passwords (tblhosting.password) were not imported: no WHMCS encryption key was given "
            "(--whmcs-encryption-key or WHMCS_CC_ENCRYPTION_HASH, the cc_encryption_hash of configuration.php)."
        )
    else:
        fernet()  # fail before any batch if our own encryption keys are missing
    cancellations = {}
    for r in run.source.query(
        "SELECT relid, reason, type, CAST(date AS CHAR) AS date FROM tblcancelrequests ORDER BY id"
    ):
        cancellations[r["relid"]] = {"reason": fix_text(r["reason"])[0], "type": r["type"], "date": r["date"]}
    report.table("tblcancelrequests").read += len(cancellations)
    columns = SERVICE_COLUMNS + (", password" if mask is not None else "")
    now, behind = clock.now(), 0
    for rows in run.batches(table, columns, since_column="updated_at"):
        first, last = rows[0]["id"], rows[-1]["id"]
        addons = _addons(run, first, last)
        chosen = _chosen_options(run, first, last, options, choices)
        passwords = _passwords(run, rows, mask)
        mapped, subscriptions = {}, {}
        for r in rows:
            customer, product = customers.get(r["userid"]), products.get(r["packageid"])
            if customer is None or product is None:
                report.skip(table, r["id"], f"client {r['userid']} or product {r['packageid']} does not exist")
                continue
            created, problem = parse_datetime(r["regdate"])
            if problem:
                report.repair(table, r["id"], f"registration date: {problem}")
            next_due, problem = parse_date(r["nextduedate"])
            if problem:
                report.repair(table, r["id"], f"next due date: {problem}")
            terminated, _ = parse_datetime(r["termination_date"])
            ips = [ip for ip in (_ip(x) for x in (r["assignedips"] or "").replace(",", "\n").splitlines()) if ip]
            status = SERVICE_STATUS.get(r["domainstatus"], "pending")
            subscription = _subscription(run, r, customer, product, next_due, cancellations.get(r["id"]))
            if subscription is not None:
                subscriptions[r["id"]] = subscription
                if subscription["status"] == Subscription.Status.ACTIVE and subscription["current_period_end"] < now:
                    behind += 1
            values = {
                "customer_id": customer["pk"],
                "product_id": product["pk"],
                "connection_id": product["platform_connection_id"],
                "status": status,
                "label": fix_text(r["domain"], 100)[0],
                "hostname": (r["domain"] or "")[:253],
                "primary_ip": _ip(r["dedicatedip"]),
                "ip_addresses": ips,
                "username": (r["username"] or "")[:100],
                "suspension_reason": fix_text(r["suspendreason"], 255)[0],
                "platform_data": {"whmcs_server_id": r["server"]},
                "config": {
                    "whmcs": {
                        "status": r["domainstatus"],
                        "billing_cycle": r["billingcycle"],
                        "amount": str(money(r["amount"])),
                        "first_payment_amount": str(money(r["firstpaymentamount"])),
                        "next_due_date": next_due.isoformat() if next_due else None,
                        "payment_method": r["paymentmethod"],
                        "gateway_subscription_id": r["subscriptionid"],
                        "order_id": r["orderid"],
                        "promotion_id": r["promoid"],
                        "quantity": r["qty"],
                        "notes": fix_text(r["notes"])[0],
                        "cancellation_request": cancellations.get(r["id"]),
                        "addons": addons.get(r["id"], []),
                        "config_options": chosen.get(r["id"], []),
                    }
                },
                "terminated_at": terminated if status == "terminated" else None,
            }
            if created:
                values["created_at"] = created
            mapped[r["id"]] = values
        with transaction.atomic():
            subscription_pks = _sync_subscriptions(run, prices, subscriptions, first, last)
            for sid, values in mapped.items():
                values["subscription_id"] = subscription_pks.get(sid)
            if passwords:
                _merge_credentials(mapped, passwords)
            result = sync_range(Service, mapped, first, last)
            _count(report.table(table), result)
            sync_addresses_in_bulk(
                SimpleNamespace(pk=result.pks.get(sid), status=v["status"], primary_ip=v["primary_ip"],
                                ip_addresses=v["ip_addresses"])
                for sid, v in mapped.items()
            )  # fmt: skip
    if behind:
        report.notes.append(
            f"{behind} imported running subscriptions have a WHMCS next due date in the past: once the cutover "
            "(IMPORTED_BILLING_FROM) is reached, the billing run invoices every period since then (up to 60 per "
            "run). Check them (tblhosting.nextduedate) before cutover."
        )
    if mask is not None:
        stats = report.table(PASSWORDS)
        report.notes.append(
            f"Service passwords: {stats.read - stats.skipped} decrypted with the WHMCS key and stored encrypted with "
            f"ours; {stats.skipped} could not be decrypted (listed as {PASSWORDS})."
        )


def _sync_subscriptions(
    run: Run, prices: _Prices, subscriptions: dict[int, dict], first: int, last: int
) -> dict[int, int]:
    """Insert/update the batch's subscriptions (compare-before-write); returns WHMCS service id -> our pk."""
    if not subscriptions:
        return {}
    wanted: dict[tuple, tuple] = {}
    for sid, values in subscriptions.items():
        wanted.setdefault(values["_price_key"], (values["amount"], sid))
    prices.add_missing(run, wanted)
    rows = {
        sid: {**{k: v for k, v in values.items() if k != "_price_key"}, "price_id": prices.by_key[values["_price_key"]]}
        for sid, values in subscriptions.items()
    }
    result = sync_range(Subscription, rows, first, last)
    _count(run.report.table(SUBSCRIPTIONS), result)
    return result.pks


def _merge_credentials(mapped: dict[int, dict], passwords: dict[int, str]) -> None:
    """Put each decrypted password into the service's credentials, keeping any other keys stored there
    (one query for the batch); an unchanged password compares equal and is not written."""
    wanted = {sid: p for sid, p in passwords.items() if sid in mapped}
    stored = dict(Service.objects.filter(whmcs_id__in=list(wanted)).values_list("whmcs_id", "credentials"))
    for sid, password in wanted.items():
        mapped[sid]["credentials"] = {**(stored.get(sid) or {}), "password": password}
