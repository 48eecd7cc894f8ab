"""Products (with their group, module, settings, stock, visibility) and prices per currency and cycle."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from core.catalog.models import Price, Product
from core.imports.services import sync_rows
from core.provisioning.models import PlatformConnection

from .cleaning import fix_text, money
from .mappings import PRICE_CYCLES, UNSUPPORTED_PRICE_CYCLES, platform_for
from .run import Run
from .steps_accounts import _count


def import_products(run: Run) -> None:
    """Products; stock only when WHMCS controls it (a negative stock is repaired to 0)."""
    report, table = run.report, "tblproducts"
    groups = {r["id"]: r["name"] for r in run.source.query("SELECT id, name FROM tblproductgroups")}
    connections = {}
    for conn in PlatformConnection.objects.filter(is_active=True).order_by("pk"):
        connections.setdefault(conn.platform, conn.pk)
    settings_columns = ", ".join(f"configoption{i}" for i in range(1, 25))
    select = f"id, type, gid, name, description, hidden, stockcontrol, qty, paytype, servertype, retired, `order`, {settings_columns}"
    for rows in run.batches(table, select, since_column="updated_at"):
        mapped = {}
        for r in rows:
            platform, service_type = platform_for(r["servertype"], r["type"])
            name, problem = fix_text(r["name"], 120)
            if problem:
                report.repair(table, r["id"], problem)
            stock = None
            if r["stockcontrol"]:
                stock = int(r["qty"] or 0)
                if stock < 0:
                    report.repair(table, r["id"], f"negative stock {stock} set to 0")
                    stock = 0
            module_settings = {
                f"configoption{i}": r[f"configoption{i}"]
                for i in range(1, 25)
                if r[f"configoption{i}"] not in ("", None)
            }
            mapped[r["id"]] = {
                "name": name or f"WHMCS product {r['id']}",
                "slug": f"{slugify(name)[:100] or 'product'}-w{r['id']}",
                "description": fix_text(r["description"])[0],
                "service_type": service_type,
                "platform": platform,
                "platform_connection_id": connections.get(platform),
                "platform_settings": {"whmcs_module": r["servertype"] or "", "whmcs_settings": module_settings},
                "features": {
                    "whmcs_group": groups.get(r["gid"], ""),
                    "whmcs_type": r["type"],
                    "whmcs_paytype": r["paytype"],
                },
                "stock_quantity": stock,
                "status": "archived" if r["retired"] else ("hidden" if r["hidden"] else "active"),
                "sort_order": max(int(r["order"] or 0), 0),
            }
        with transaction.atomic():
            _count(report.table(table), sync_rows(Product, mapped))


def import_pricing(run: Run) -> None:
    """tblpricing rows of type 'product': one Price per enabled cycle. -1.00 means the cycle is disabled
    (WHMCS convention) and is skipped silently; enabled biennial/triennial prices have no cycle here
    and are reported."""
    report, table = run.report, "tblpricing"
    products = dict(Product.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "pk"))
    paytypes = dict(Product.objects.filter(whmcs_id__isnull=False).values_list("whmcs_id", "features__whmcs_paytype"))
    existing = {
        (p["product_id"], p["currency_id"], p["cycle"]): p
        for p in Price.objects.filter(product__whmcs_id__isnull=False).values(
            "pk", "product_id", "currency_id", "cycle", "amount", "setup_fee"
        )
    }
    for rows in run.batches(table, "*", where="type = 'product'"):
        new, changed = [], []
        for r in rows:
            product = products.get(r["relid"])
            currency = run.currency_code(r["currency"])
            if product is None or currency is None:
                report.skip(table, r["id"], f"product {r['relid']} or currency {r['currency']} does not exist")
                continue
            if paytypes.get(r["relid"]) in ("onetime", "free"):
                # One-time prices sit in the monthly column (fleio); we have no one-time cycle.
                if paytypes.get(r["relid"]) == "onetime":
                    report.skip(table, r["id"], "one-time price: no one-time billing cycle here")
                continue
            for column in UNSUPPORTED_PRICE_CYCLES:
                if money(r[column]) >= 0:
                    report.skip(table, r["id"], f"{column} price {r[column]}: no such billing cycle here")
            for column, (cycle, setup_column) in PRICE_CYCLES.items():
                amount = money(r[column])
                if amount < 0:
                    continue
                setup = max(money(r[setup_column]), money(0))
                stored = existing.get((product, currency, cycle))
                if stored is None:
                    new.append(
                        Price(product_id=product, currency_id=currency, cycle=cycle, amount=amount, setup_fee=setup)
                    )
                elif stored["amount"] != amount or stored["setup_fee"] != setup:
                    changed.append(Price(pk=stored["pk"], amount=amount, setup_fee=setup))
                else:
                    report.table(table).unchanged += 1
        with transaction.atomic():
            Price.objects.bulk_create(new)
            Price.objects.bulk_update(changed, ["amount", "setup_fee"])
        report.table(table).imported += len(new)
        report.table(table).updated += len(changed)
