"""Coupons with usage, tax rules, orders, gateway customers, tickets with replies (support archive),
the activity log (audit history)."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count

from core import clock
from core.accounts.models import Customer
from core.audit.models import AuditLog
from core.billing.models import (
    Coupon,
    CouponAmount,
    CouponRedemption,
    GatewayCustomer,
    Invoice,
    Order,
    OrderItem,
    TaxRate,
)
from core.catalog.models import Currency, Price, Product
from core.imports.services import sync_rows
from core.provisioning.models import Service
from core.support.models import SupportTicket

from .cleaning import fix_text, money, parse_datetime
from .mappings import service_cycle
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
    """tblorders -> Order (status, currency, coupon, invoice, IP, notes), each with its items.

    Items are what was ordered: the order's services (tblhosting.orderid) and addons
    (tblhostingaddons.orderid) become OrderItems keyed 'hosting:<id>' / 'addon:<id>'; a service's
    item is linked to the imported Service (Service.order_item) and names the service's subscription
    and its price when the service has one, as our own fulfilled orders do; otherwise the price is our
    Price of the product in the order's currency and cycle when there is one (addons and one-time or
    free services have none); what WHMCS charged is kept in the item's config['whmcs']. Domains
    (tbldomains.orderid) are not modelled here: each is listed in the report as a skipped item."""
    report, table = run.report, "tblorders"
    customers = {
        c["whmcs_id"]: c
        for c in Customer.objects.filter(whmcs_id__isnull=False).values("whmcs_id", "pk", "currency_id")
    }
    coupons = dict(Coupon.objects.values_list("code", "pk"))
    prices = {
        (p["product_id"], p["currency_id"], p["cycle"]): p["pk"]
        for p in Price.objects.filter(product__whmcs_id__isnull=False).values(
            "pk", "product_id", "currency_id", "cycle"
        )
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
                "coupon_id": coupons.get((r["promocode"] or "").strip().upper()[:40]),
                "ip_address": ip, "created_at": created,
                "notes": f"WHMCS order {r['ordernum']} · {money(r['amount'])}" + (f" · promo {r['promocode']}" if r["promocode"] else "")
                + (f"\n{r['notes']}" if r["notes"] else ""),
            }  # fmt: skip
        with transaction.atomic():
            result = sync_rows(Order, mapped)
            _count(report.table(table), result)
            _import_order_items(run, result.pks, {k: v["currency_id"] for k, v in mapped.items()}, prices)


def _import_order_items(run: Run, orders: dict[int, int], currencies: dict[int, str], prices: dict) -> None:
    """The items of one batch of orders (WHMCS order id -> our Order pk): two reads, bulk writes."""
    if not orders:
        return
    report, marks = run.report, ",".join(["%s"] * len(orders))
    ids = list(orders)
    hosting = run.source.query(
        "SELECT id, orderid, packageid, domain, qty, billingcycle, firstpaymentamount, amount, domainstatus "  # noqa: S608
        f"FROM tblhosting WHERE orderid IN ({marks}) ORDER BY id",
        ids,
    )
    addons = run.source.query(
        "SELECT a.id, a.orderid, a.hostingid, COALESCE(NULLIF(a.name, ''), d.name) AS name, a.qty, a.setupfee, "  # noqa: S608
        "a.recurring, a.billingcycle, a.status FROM tblhostingaddons a LEFT JOIN tbladdons d ON d.id = a.addonid "
        f"WHERE a.orderid IN ({marks}) ORDER BY a.id",
        ids,
    )
    domains = run.source.query(
        f"SELECT id, orderid, domain FROM tbldomains WHERE orderid IN ({marks}) ORDER BY id",  # noqa: S608
        ids,
    )
    stats = report.table("tblorders.items")
    stats.read += len(hosting) + len(addons) + len(domains)
    for d in domains:
        report.skip("tblorders.items", f"domain:{d['id']}", f"domain {d['domain']} of order {d['orderid']}: "
                    "domains are not modelled here")  # fmt: skip
    services = {
        s["whmcs_id"]: s
        for s in Service.objects.filter(whmcs_id__in=[h["id"] for h in hosting]).values(
            "whmcs_id", "pk", "product_id", "order_item_id", "subscription_id", "subscription__price_id"
        )
    }
    items = {}
    for h in hosting:
        service = services.get(h["id"])
        if service is None:
            report.skip(
                "tblorders.items", f"hosting:{h['id']}", f"service {h['id']} of order {h['orderid']} was not imported"
            )
            continue
        cycle = service_cycle(h["billingcycle"])
        items[f"hosting:{h['id']}"] = {
            "order_id": orders[h["orderid"]],
            "price_id": service["subscription__price_id"]
            or prices.get((service["product_id"], currencies[h["orderid"]], cycle)),
            "subscription_id": service["subscription_id"],
            "quantity": max(int(h["qty"] or 1), 1),
            "hostname": (h["domain"] or "")[:253],
            "config": {"whmcs": {"type": "hosting", "id": h["id"], "billing_cycle": h["billingcycle"],
                                 "first_payment_amount": str(money(h["firstpaymentamount"])),
                                 "amount": str(money(h["amount"])), "status": h["domainstatus"]}},
        }  # fmt: skip
    for a in addons:
        items[f"addon:{a['id']}"] = {
            "order_id": orders[a["orderid"]],
            "price_id": None,
            "quantity": max(int(a["qty"] or 1), 1),
            "hostname": "",
            "config": {"whmcs": {"type": "addon", "id": a["id"], "name": fix_text(a["name"], 200)[0],
                                 "service_id": a["hostingid"], "billing_cycle": a["billingcycle"],
                                 "setup_fee": str(money(a["setupfee"])), "recurring": str(money(a["recurring"])),
                                 "status": a["status"]}},
        }  # fmt: skip
    result = sync_rows(OrderItem, items, key="whmcs_ref")
    _count(stats, result)
    links = {
        whmcs_id: {"order_item_id": result.pks[f"hosting:{whmcs_id}"]}
        for whmcs_id, s in services.items()
        if s["order_item_id"] != result.pks.get(f"hosting:{whmcs_id}")
    }
    if links:
        sync_rows(Service, links)


def _more_batches(run: Run, table: str, select: str, *, since_column: str, where: str):
    """A second pass over a table another step reads (its rows are not counted again in the report)."""
    clauses, args = [where], []
    clause, since_args = run.since_clause(since_column)
    if clause:
        clauses.append(clause)
        args += since_args
    condition = " AND ".join(f"({c})" for c in clauses)
    yield from run.source.batches(table, select, where=condition, params=args, size=run.batch_size)


def import_coupon_uses(run: Run) -> None:
    """Coupon redemptions from WHMCS: one per order that names a promotion code (tblorders.promocode,
    'order:<id>'), and one per service whose promotion (tblhosting.promoid) its order does not name
    (applied by staff later, 'hosting:<id>', naming the service's subscription). WHMCS counts a
    promotion's `uses` once per order at checkout (UNCONFIRMED for staff-applied ones), so these rows
    add up to `uses`; the coupon's times redeemed stays WHMCS's `uses`, and every promotion whose rows
    do not add up is listed in the report."""
    report = run.report
    promotions = {r["id"]: r for r in run.source.query("SELECT id, code, uses FROM tblpromotions ORDER BY id")}
    code_of = {pid: (p["code"] or "").strip().upper()[:40] for pid, p in promotions.items()}
    coupons = dict(Coupon.objects.filter(code__in=set(code_of.values())).values_list("code", "pk"))
    customers = dict(Customer.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "pk"))

    table = "tblorders.promocode"
    select = "id, userid, promocode, CAST(date AS CHAR) AS date"
    for rows in _more_batches(run, "tblorders", select, since_column="date", where="promocode <> ''"):
        orders = {
            o["whmcs_id"]: o
            for o in Order.objects.filter(whmcs_id__in=[r["id"] for r in rows]).values(
                "whmcs_id", "pk", "customer_id", "created_at"
            )
        }
        mapped = {}
        for r in rows:
            report.table(table).read += 1
            order, coupon = orders.get(r["id"]), coupons.get((r["promocode"] or "").strip().upper()[:40])
            if order is None or coupon is None:
                report.skip(
                    table, r["id"], f"order not imported or promotion code {r['promocode']!r} not a coupon here"
                )
                continue
            mapped[f"order:{r['id']}"] = {"coupon_id": coupon, "customer_id": order["customer_id"],
                                          "order_id": order["pk"], "redeemed_at": order["created_at"]}  # fmt: skip
        with transaction.atomic():
            _count(report.table(table), sync_rows(CouponRedemption, mapped, key="whmcs_ref"))

    table = "tblhosting.promoid"
    select = (
        "id, userid, orderid, promoid, CAST(regdate AS CHAR) AS regdate, "
        "(SELECT o.promocode FROM tblorders o WHERE o.id = tblhosting.orderid) AS order_code"
    )
    for rows in _more_batches(run, "tblhosting", select, since_column="updated_at", where="promoid > 0"):
        mapped = {}
        subscriptions = dict(
            Service.objects.filter(whmcs_id__in=[r["id"] for r in rows]).values_list("whmcs_id", "subscription_id")
        )
        for r in rows:
            code = code_of.get(r["promoid"])
            if code is not None and code == (r["order_code"] or "").strip().upper()[:40]:
                continue  # counted with its order
            report.table(table).read += 1
            customer, coupon = customers.get(r["userid"]), coupons.get(code)
            if customer is None or coupon is None:
                report.skip(table, r["id"], f"client {r['userid']} or promotion {r['promoid']} not imported")
                continue
            when, _ = parse_datetime(r["regdate"])
            mapped[f"hosting:{r['id']}"] = {"coupon_id": coupon, "customer_id": customer, "order_id": None,
                                            "subscription_id": subscriptions.get(r["id"]),
                                            "redeemed_at": when or clock.now().replace(microsecond=0)}  # fmt: skip
            if when is None:  # keep a rerun from rewriting the date
                del mapped[f"hosting:{r['id']}"]["redeemed_at"]
        with transaction.atomic():
            _count(report.table(table), sync_rows(CouponRedemption, mapped, key="whmcs_ref"))

    ours = dict(
        CouponRedemption.objects.filter(whmcs_ref__isnull=False, coupon_id__in=coupons.values())
        .values("coupon__code").annotate(n=Count("id")).values_list("coupon__code", "n")
    )  # fmt: skip
    for pid, p in promotions.items():
        code = code_of[pid]
        if code in coupons and ours.get(code, 0) != int(p["uses"] or 0):
            report.notes.append(
                f"Coupon {code} (tblpromotions {pid}): WHMCS counts {int(p['uses'] or 0)} uses, "
                f"{ours.get(code, 0)} orders/services name it; times redeemed kept at WHMCS's count"
            )


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
    """Tickets with their replies as the support archive (SupportTicket 'whmcs-<id>', replies in raw),
    staff notes (tblticketnotes) in raw['notes'] (staff-only: the portal never shows raw), and
    attachments. WHMCS keeps attachment file names '|'-separated on the ticket, reply or note and the
    files in its attachments folder: with run.attachments_dir they are copied into our storage under
    support/whmcs/<ticket id>/ (a file already there with the same size is not copied again; a missing
    one is reported), without it the names are kept as references and reported once."""
    report, table = run.report, "tbltickets"
    customers = dict(Customer.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "pk"))
    departments = {r["id"]: r["name"] for r in run.source.query("SELECT id, name FROM tblticketdepartments")}
    files = _Attachments(run)
    select = (
        "id, tid, did, userid, name, email, CAST(date AS CHAR) AS date, title, message, status, urgency, admin, "
        "CAST(lastreply AS CHAR) AS lastreply, attachment, attachments_removed"
    )
    for rows in run.batches(table, select, since_column="lastreply"):
        first, last_id = rows[0]["id"], rows[-1]["id"]
        replies, notes = defaultdict(list), defaultdict(list)
        for reply in run.source.query(
            "SELECT id, tid, userid, name, email, CAST(date AS CHAR) AS date, message, admin, attachment, "
            "attachments_removed FROM tblticketreplies WHERE tid BETWEEN %s AND %s ORDER BY id",
            [first, last_id],
        ):
            replies[reply["tid"]].append({"id": reply["id"], "date": reply["date"], "by": reply["admin"] or reply["name"] or reply["email"],
                                          "staff": bool(reply["admin"]), "message": fix_text(reply["message"])[0],
                                          **files.of(reply["tid"], reply["attachment"], reply["attachments_removed"])})  # fmt: skip
        for note in run.source.query(
            "SELECT id, ticketid, admin, CAST(date AS CHAR) AS date, message, attachments, attachments_removed "
            "FROM tblticketnotes WHERE ticketid BETWEEN %s AND %s ORDER BY id",
            [first, last_id],
        ):
            notes[note["ticketid"]].append({"id": note["id"], "date": note["date"], "by": note["admin"],
                                            "message": fix_text(note["message"])[0],
                                            **files.of(note["ticketid"], note["attachments"], note["attachments_removed"])})  # fmt: skip
        report.table("tblticketreplies").read += sum(len(v) for v in replies.values())
        report.table("tblticketnotes").read += sum(len(v) for v in notes.values())
        mapped = {}
        for r in rows:
            opened, problem = parse_datetime(r["date"])
            if opened is None:
                report.repair(table, r["id"], f"{problem or 'zero date'}: opened at the import time")
            last, _ = parse_datetime(r["lastreply"])
            thread = replies.get(r["id"], [])
            raw = {"source": "whmcs", "guest": None if r["userid"] else {"name": r["name"], "email": r["email"]},
                   "message": fix_text(r["message"])[0], "replies": thread,
                   **files.of(r["id"], r["attachment"], r["attachments_removed"])}  # fmt: skip
            if notes.get(r["id"]):
                raw["notes"] = notes[r["id"]]  # staff-only
            mapped[f"whmcs-{r['id']}"] = {
                "customer_id": customers.get(r["userid"]), "number": (r["tid"] or "")[:32],
                "subject": fix_text(r["title"], 255)[0] or "(no subject)", "status": (r["status"] or "")[:64],
                "priority": (r["urgency"] or "")[:64], "department": departments.get(r["did"], "")[:100],
                "last_reply_at": last, "last_reply_by_staff": bool(thread and thread[-1]["staff"]), "raw": raw,
            }  # fmt: skip
            if opened:
                mapped[f"whmcs-{r['id']}"]["opened_at"] = opened
                mapped[f"whmcs-{r['id']}"]["updated_at"] = last or opened
        with transaction.atomic():
            _count(report.table(table), sync_rows(SupportTicket, mapped, key="external_id"))
    files.summarise()


ATTACHMENT_PREFIX = re.compile(r"^\d+_")  # WHMCS stores "<random digits>_<original name>"


class _Attachments:
    """Ticket attachments: references, or copies into our storage when WHMCS's folder is given."""

    def __init__(self, run: Run):
        self.run = run
        self.folder = Path(run.attachments_dir) if run.attachments_dir else None
        self.referenced = self.copied = self.missing = 0

    def of(self, ticket_id: int, names: str | None, removed) -> dict:
        """{'attachments': [...]} for one ticket, reply or note ({} when it has none)."""
        found = []
        for file in [n.strip() for n in (names or "").split("|") if n.strip()]:
            entry = {"file": file, "name": ATTACHMENT_PREFIX.sub("", file) or file, "stored": None}
            if removed:
                entry["removed"] = True  # deleted in WHMCS: kept as a name only
            elif self.folder is None:
                self.referenced += 1
            else:
                entry["stored"] = self._copy(ticket_id, file)
            found.append(entry)
        return {"attachments": found} if found else {}

    def _copy(self, ticket_id: int, file: str) -> str | None:
        source = self.folder / file
        if Path(file).name != file or file.startswith(".") or not source.is_file():
            self.missing += 1
            self.run.report.skip("tbltickets.attachment", f"{ticket_id}:{file}", f"file not found in {self.folder}")
            return None
        name = f"support/whmcs/{ticket_id}/{file}"
        size = source.stat().st_size
        if default_storage.exists(name) and default_storage.size(name) == size:
            return name
        if self.run.report.dry_run:  # a dry run writes no files either
            return name
        if default_storage.exists(name):
            default_storage.delete(name)
        with source.open("rb") as handle:
            stored = default_storage.save(name, File(handle))
        self.copied += 1
        return stored

    def summarise(self) -> None:
        stats = self.run.report.table("tbltickets.attachment")
        stats.read += self.referenced + self.copied + self.missing
        stats.imported += self.copied
        if self.referenced:
            self.run.report.notes.append(
                f"{self.referenced} ticket attachment(s) kept as WHMCS file names only (in raw['attachments'] "
                "of the ticket, reply or note): run again with --attachments-dir PATH to copy the files"
            )


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
