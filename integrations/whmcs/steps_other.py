"""Coupons with usage, tax rules, orders, gateway customers, tickets with replies (support archive),
the activity log (audit history)."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from decimal import Decimal

from django.db import transaction

from core.accounts.models import Customer
from core.audit.models import AuditLog
from core.billing.models import Coupon, CouponAmount, GatewayCustomer, Invoice, Order, TaxRate
from core.catalog.models import Currency, Product
from core.imports.services import sync_rows
from core.support.models import SupportTicket

from .cleaning import fix_text, money, parse_datetime
from .run import Run
from .steps_accounts import _count

ORDER_STATUS = {"Pending": "pending", "Active": "fulfilled", "Cancelled": "cancelled", "Fraud": "refused"}


def import_coupons(run: Run) -> None:
    """tblpromotions -> Coupon by code. Percentage and Fixed Amount come over (a fixed amount in every
    currency: WHMCS applies the value in the client's currency - UNCONFIRMED); Price Override and
    Free Setup have no equivalent here and are reported. Usage: `uses` becomes times redeemed."""
    report, table = run.report, "tblpromotions"
    products = dict(Product.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "pk"))
    currencies = list(Currency.objects.values_list("code", flat=True))
    select = (
        "id, code, type, recurring, value, appliesto, CAST(startdate AS CHAR) AS startdate, "
        "CAST(expirationdate AS CHAR) AS expirationdate, maxuses, uses, recurfor, notes"
    )
    for rows in run.batches(table, select):
        mapped, applies = {}, {}
        for r in rows:
            code = (r["code"] or "").strip().upper()[:40]
            kind = {"percentage": "percent", "fixed amount": "fixed"}.get((r["type"] or "").strip().lower())
            if not code or kind is None:
                report.skip(table, r["id"], f"promotion type {r['type']!r} (or empty code) has no equivalent here")
                continue
            value = money(r["value"])
            uses, max_uses = int(r["uses"] or 0), int(r["maxuses"] or 0) or None
            if max_uses is not None and uses > max_uses:
                report.repair(table, r["id"], f"used {uses} times over its limit {max_uses}: limit raised to {uses}")
                max_uses = uses
            starts, _ = parse_datetime(r["startdate"])
            expires, _ = parse_datetime(r["expirationdate"])
            recur_for = int(r["recurfor"] or 0)
            ids = [int(x) for x in (r["appliesto"] or "").split(",") if x.strip().isdigit()]
            mapped[code] = {
                "description": fix_text(r["notes"], 200)[0],
                "kind": kind,
                "percent": min(value, Decimal("100")) if kind == "percent" else None,
                "duration": "once" if not r["recurring"] else ("repeating" if recur_for else "forever"),
                "duration_cycles": recur_for if r["recurring"] and recur_for else None,
                "max_redemptions": max_uses,
                "max_per_customer": None,
                "times_redeemed": uses,
                "valid_from": starts,
                "expires_at": expires,
                "applies_to_all_products": not ids,
            }
            applies[code] = ([products[i] for i in ids if i in products], value if kind == "fixed" else None)
        with transaction.atomic():
            result = sync_rows(Coupon, mapped, key="code")
            _count(report.table(table), result)
            for code, (product_ids, amount) in applies.items():
                coupon = result.pks[code]
                if product_ids and set(
                    Coupon.products.through.objects.filter(coupon_id=coupon).values_list("product_id", flat=True)
                ) != set(product_ids):
                    Coupon.objects.get(pk=coupon).products.set(product_ids)
                if amount is not None:
                    stored = dict(CouponAmount.objects.filter(coupon_id=coupon).values_list("currency_id", "amount"))
                    for currency in currencies:
                        if stored.get(currency) != amount:
                            CouponAmount.objects.update_or_create(
                                coupon_id=coupon, currency_id=currency, defaults={"amount": amount}
                            )


def import_tax(run: Run) -> None:
    """tbltax -> TaxRate per (country, state). Rules without a country (apply everywhere) and level-2
    (compound) rules have no equivalent here and are reported; of several rules for the same place
    the lowest id wins, as in WHMCS."""
    report, table = run.report, "tbltax"
    rows = run.source.query("SELECT * FROM tbltax ORDER BY id")
    report.table(table).read += len(rows)
    seen = set()
    for r in rows:
        country, region = (r["country"] or "").strip().upper()[:2], (r["state"] or "").strip()[:100]
        if len(country) != 2 or int(r["level"] or 1) != 1 or (country, region) in seen:
            report.skip(table, r["id"], "no country, a level-2 (compound) rule, or a later rule for the same place")
            continue
        seen.add((country, region))
        rate = money(r["taxrate"])
        name = fix_text(r["name"], 64)[0] or "Tax"
        found = TaxRate.objects.filter(country=country, region=region).first()
        if found is None:
            TaxRate.objects.create(country=country, region=region, rate=rate, name=name)
            report.table(table).imported += 1
        elif found.rate != rate or found.name != name:
            TaxRate.objects.filter(pk=found.pk).update(rate=rate, name=name)
            report.table(table).updated += 1
        else:
            report.table(table).unchanged += 1


def import_orders(run: Run) -> None:
    """tblorders -> Order (status, currency, invoice, IP, notes); the ordered items are the services."""
    report, table = run.report, "tblorders"
    customers = {
        c["whmcs_id"]: c
        for c in Customer.objects.filter(whmcs_id__isnull=False).values("whmcs_id", "pk", "currency_id")
    }
    select = "id, ordernum, userid, CAST(date AS CHAR) AS date, amount, invoiceid, status, ipaddress, notes, promocode"
    for rows in run.batches(table, select, since_column="date"):
        invoices = dict(
            Invoice.objects.filter(whmcs_id__in={r["invoiceid"] for r in rows if r["invoiceid"]}).values_list(
                "whmcs_id", "pk"
            )
        )
        mapped = {}
        for r in rows:
            customer = customers.get(r["userid"])
            created, _ = parse_datetime(r["date"])
            if customer is None or created is None:
                report.skip(table, r["id"], f"client {r['userid']} does not exist or the order has no date")
                continue
            try:
                ip = str(ipaddress.ip_address((r["ipaddress"] or "").strip()))
            except ValueError:
                ip = None
            mapped[r["id"]] = {
                "customer_id": customer["pk"], "currency_id": customer["currency_id"],
                "status": ORDER_STATUS.get(r["status"], "pending"), "invoice_id": invoices.get(r["invoiceid"]),
                "ip_address": ip, "created_at": created,
                "notes": f"WHMCS order {r['ordernum']} · {money(r['amount'])}" + (f" · promo {r['promocode']}" if r["promocode"] else "")
                + (f"\n{r['notes']}" if r["notes"] else ""),
            }  # fmt: skip
        with transaction.atomic():
            _count(report.table(table), sync_rows(Order, mapped))


def import_gateway_customers(run: Run) -> None:
    """Gateway customer tokens from tblclients.gatewayid (Stripe 'cus_...'). Saved cards' remote
    tokens sit inside tblcreditcards.card_data, encrypted with the WHMCS hash, and are not read:
    card numbers never come over, and those pay methods are listed in the report."""
    report, table = run.report, "tblpaymethods"
    customers = dict(Customer.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "pk"))
    existing = set(GatewayCustomer.objects.filter(gateway="stripe").values_list("customer_id", flat=True))
    new = []
    for r in run.source.query("SELECT id, gatewayid FROM tblclients WHERE gatewayid LIKE 'cus\\_%'"):
        customer = customers.get(r["id"])
        token = r["gatewayid"].split(",")[0].strip()[:128]
        if customer and customer not in existing:
            new.append(GatewayCustomer(customer_id=customer, gateway="stripe", gateway_customer_id=token))
    GatewayCustomer.objects.bulk_create(new, ignore_conflicts=True)
    report.table("tblclients.gatewayid").imported += len(new)
    for r in run.source.query(
        "SELECT id, gateway_name, payment_type FROM tblpaymethods WHERE deleted_at IS NULL OR deleted_at < '1971-01-01'"
    ):
        report.table(table).read += 1
        report.skip(
            table,
            r["id"],
            f"{r['payment_type']} via {r['gateway_name']}: remote token is inside encrypted card_data (not read)",
        )


def import_tickets(run: Run) -> None:
    """Tickets with their replies as the support archive (SupportTicket 'whmcs-<id>', replies in raw)."""
    report, table = run.report, "tbltickets"
    customers = dict(Customer.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "pk"))
    departments = {r["id"]: r["name"] for r in run.source.query("SELECT id, name FROM tblticketdepartments")}
    select = "id, tid, did, userid, name, email, CAST(date AS CHAR) AS date, title, message, status, urgency, admin, CAST(lastreply AS CHAR) AS lastreply"
    for rows in run.batches(table, select, since_column="lastreply"):
        replies = defaultdict(list)
        for reply in run.source.query(
            "SELECT id, tid, userid, name, email, CAST(date AS CHAR) AS date, message, admin FROM tblticketreplies "
            "WHERE tid BETWEEN %s AND %s ORDER BY id",
            [rows[0]["id"], rows[-1]["id"]],
        ):
            replies[reply["tid"]].append({"id": reply["id"], "date": reply["date"], "by": reply["admin"] or reply["name"] or reply["email"],
                                          "staff": bool(reply["admin"]), "message": fix_text(reply["message"])[0]})  # fmt: skip
        report.table("tblticketreplies").read += sum(len(v) for v in replies.values())
        mapped = {}
        for r in rows:
            opened, problem = parse_datetime(r["date"])
            if opened is None:
                report.repair(table, r["id"], f"{problem or 'zero date'}: opened at the import time")
            last, _ = parse_datetime(r["lastreply"])
            thread = replies.get(r["id"], [])
            mapped[f"whmcs-{r['id']}"] = {
                "customer_id": customers.get(r["userid"]), "number": (r["tid"] or "")[:32],
                "subject": fix_text(r["title"], 255)[0] or "(no subject)", "status": (r["status"] or "")[:64],
                "priority": (r["urgency"] or "")[:64], "department": departments.get(r["did"], "")[:100],
                "last_reply_at": last, "last_reply_by_staff": bool(thread and thread[-1]["staff"]),
                "raw": {"source": "whmcs", "guest": None if r["userid"] else {"name": r["name"], "email": r["email"]},
                        "message": fix_text(r["message"])[0], "replies": thread},
            }  # fmt: skip
            if opened:
                mapped[f"whmcs-{r['id']}"]["opened_at"] = opened
                mapped[f"whmcs-{r['id']}"]["updated_at"] = last or opened
        with transaction.atomic():
            _count(report.table(table), sync_rows(SupportTicket, mapped, key="external_id"))


def import_activity(run: Run) -> None:
    """tblactivitylog as audit history: AuditLog rows with source 'import', one per WHMCS entry."""
    report, table = run.report, "tblactivitylog"
    customers = dict(Customer.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "pk"))
    for rows in run.batches(
        table, "id, CAST(date AS CHAR) AS date, description, user, userid, ipaddr", since_column="date"
    ):
        mapped = {}
        for r in rows:
            when, _ = parse_datetime(r["date"])
            try:
                ip = str(ipaddress.ip_address((r["ipaddr"] or "").strip()))
            except ValueError:
                ip = None
            mapped[str(r["id"])] = {
                "action": "whmcs.activity", "message": fix_text(r["description"])[0], "ip_address": ip,
                "object_repr": f"WHMCS client {r['userid']}" if r["userid"] else "",
                "data": {"whmcs_user": r["user"], "whmcs_client_id": r["userid"]},
                "customer_id": customers.get(r["userid"]),
                "source": "import",
            }  # fmt: skip
            if when:
                mapped[str(r["id"])]["created_at"] = when
        with transaction.atomic():
            _count(
                report.table(table),
                sync_rows(AuditLog, mapped, key="object_id", scope={"object_type": "whmcs.activitylog"}),
            )
