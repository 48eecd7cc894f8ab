"""Services (tblhosting) with their WHMCS billing facts, and cancellation requests."""

from __future__ import annotations

import ipaddress

from django.db import transaction

from core.accounts.models import Customer
from core.catalog.models import Product
from core.imports.services import sync_rows
from core.provisioning.models import Service

from .cleaning import fix_text, money, parse_date, parse_datetime
from .mappings import SERVICE_STATUS
from .run import Run
from .steps_accounts import _count

SERVICE_COLUMNS = (
    "id, userid, orderid, packageid, server, CAST(regdate AS CHAR) AS regdate, domain, paymentmethod, qty, "
    "firstpaymentamount, amount, billingcycle, CAST(nextduedate AS CHAR) AS nextduedate, "
    "CAST(termination_date AS CHAR) AS termination_date, domainstatus, username, notes, subscriptionid, promoid, "
    "suspendreason, dedicatedip, assignedips"
)


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


def import_services(run: Run) -> None:
    """Services with status, platform and ids; cycle, amounts and next due date are kept in
    config['whmcs'] (no Subscription is created: our billing run must not bill them during the
    parallel run). Service passwords are not imported (no WHMCS encryption key support)."""
    report, table = run.report, "tblhosting"
    customers = dict(Customer.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "pk"))
    products = {
        p["whmcs_id"]: p
        for p in Product.objects.filter(whmcs_id__isnull=False).values("whmcs_id", "pk", "platform_connection_id")
    }
    cancellations = {}
    for r in run.source.query(
        "SELECT relid, reason, type, CAST(date AS CHAR) AS date FROM tblcancelrequests ORDER BY id"
    ):
        cancellations[r["relid"]] = {"reason": fix_text(r["reason"])[0], "type": r["type"], "date": r["date"]}
    report.table("tblcancelrequests").read += len(cancellations)
    for rows in run.batches(table, SERVICE_COLUMNS, since_column="updated_at"):
        addons = _addons(run, rows[0]["id"], rows[-1]["id"])
        mapped = {}
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
            values = {
                "customer_id": customer,
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
                    }
                },
                "terminated_at": terminated if status == "terminated" else None,
            }
            if created:
                values["created_at"] = created
            mapped[r["id"]] = values
        with transaction.atomic():
            _count(report.table(table), sync_rows(Service, mapped))
