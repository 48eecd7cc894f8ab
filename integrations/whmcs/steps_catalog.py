"""Products (with their group, module, settings, stock, visibility, configurable options) and prices
per currency and cycle.

Configurable options (tblproductconfiggroups/-links/-options/-optionssub and their tblpricing rows of
type 'configoptions') have no model here: our order options are platform choices (locations, OS
templates, game variables) checked at order time, and WHMCS's options are priced add-ons whose
choices mean nothing to our drivers. So each product keeps them, with their prices per currency and
cycle, in platform_settings['whmcs_config_options'] for staff to see; each service keeps its chosen
options in config['whmcs']['config_options'] (steps_services). WHMCS's tblhosting.amount already
includes the options' recurring prices, so nothing is added on top of it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from core.catalog.models import Price, Product
from core.imports.services import sync_rows
from core.provisioning.models import PlatformConnection

from .cleaning import fix_text, money
from .mappings import PRICE_CYCLES, platform_for
from .run import Run
from .steps_accounts import _count


def import_products(run: Run) -> None:
    """Products; stock only when WHMCS controls it (a negative stock is repaired to 0)."""
    report, table = run.report, "tblproducts"
    groups = {r["id"]: r["name"] for r in run.source.query("SELECT id, name FROM tblproductgroups")}
    connections = {}
    for conn in PlatformConnection.objects.filter(is_active=True).order_by("pk"):
        connections.setdefault(conn.platform, conn.pk)
    config_options = product_config_options(run)
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
                "platform_settings": {
                    "whmcs_module": r["servertype"] or "",
                    "whmcs_settings": module_settings,
                    **({"whmcs_config_options": config_options[r["id"]]} if r["id"] in config_options else {}),
                },
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


OPTION_TYPES = {"1": "dropdown", "2": "radio", "3": "yes_no", "4": "quantity"}


def product_config_options(run: Run) -> dict[int, list[dict]]:
    """WHMCS product id -> its configurable options with their choices and prices, in WHMCS's order.

    Five queries whatever the size (these tables hold hundreds of rows, not millions)."""
    report = run.report
    groups = {g["id"]: fix_text(g["name"])[0] for g in run.source.query("SELECT id, name FROM tblproductconfiggroups")}
    links = run.source.query("SELECT gid, pid FROM tblproductconfiglinks ORDER BY id")
    options = run.source.query(
        "SELECT id, gid, optionname, optiontype, qtyminimum, qtymaximum, `order`, hidden "
        "FROM tblproductconfigoptions ORDER BY `order`, id"
    )
    subs = run.source.query(
        "SELECT id, configid, optionname, sortorder, hidden FROM tblproductconfigoptionssub ORDER BY sortorder, id"
    )
    pricing = run.source.query("SELECT * FROM tblpricing WHERE type = 'configoptions' ORDER BY id")
    for table, rows in (("tblproductconfiggroups", groups), ("tblproductconfiglinks", links),
                        ("tblproductconfigoptions", options), ("tblproductconfigoptionssub", subs)):  # fmt: skip
        report.table(table).read += len(rows)
    prices: dict[int, dict] = {}
    for p in pricing:
        currency = run.currency_code(p["currency"])
        if currency is None:
            report.skip("tblpricing", p["id"], f"configurable option price in unknown currency {p['currency']}")
            continue
        cycles = {}
        for column, (cycle, setup_column) in PRICE_CYCLES.items():
            amount, setup = money(p[column]), money(p[setup_column])
            if amount >= 0:
                cycles[cycle] = str(amount)
            if setup > 0:
                cycles[f"{cycle}_setup_fee"] = str(setup)
        prices.setdefault(p["relid"], {})[currency] = cycles
    choices: dict[int, list[dict]] = {}
    for sub in subs:
        choices.setdefault(sub["configid"], []).append({
            "whmcs_id": sub["id"], "name": fix_text(sub["optionname"])[0], "hidden": bool(sub["hidden"]),
            "prices": prices.get(sub["id"], {}),
        })  # fmt: skip
    by_group: dict[int, list[dict]] = {}
    for o in options:
        if o["gid"] not in groups:
            report.skip("tblproductconfigoptions", o["id"], f"configurable option group {o['gid']} does not exist")
            continue
        by_group.setdefault(o["gid"], []).append({
            "whmcs_id": o["id"], "group": groups[o["gid"]], "name": fix_text(o["optionname"])[0],
            "type": OPTION_TYPES.get(str(o["optiontype"]).strip(), str(o["optiontype"])),
            "min_quantity": o["qtyminimum"], "max_quantity": o["qtymaximum"], "hidden": bool(o["hidden"]),
            "choices": choices.get(o["id"], []),
        })  # fmt: skip
    found: dict[int, list[dict]] = {}
    for link in links:
        found.setdefault(link["pid"], []).extend(by_group.get(link["gid"], []))
    return found


def import_pricing(run: Run) -> None:
    """tblpricing rows of type 'product': one Price per enabled cycle (monthly to triennially).
    -1.00 means the cycle is disabled (WHMCS convention) and is skipped silently. One-time products
    (paytype 'onetime', price in the monthly column) are reported as skipped: we have no one-time
    cycle (the billing engine renews whole-month periods only); their services keep what WHMCS
    charged in config['whmcs']. Free products have no price."""
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
            paytype = (paytypes.get(r["relid"]) or "").lower()
            if paytype in ("onetime", "free"):
                if paytype == "onetime" and money(r["monthly"]) >= 0:
                    report.skip(table, r["id"], f"one-time price {money(r['monthly'])} {currency} (setup "
                                f"{max(money(r['msetupfee']), money(0))}): no one-time cycle here, the billing "
                                "engine renews whole-month periods only")  # fmt: skip
                continue
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
