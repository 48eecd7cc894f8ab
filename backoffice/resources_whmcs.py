"""Import resources for the CSV/XLSX files WHMCS's own data-export reports produce (clients,
products with pricing, services), uploaded on the admin's import page with its preview and confirm
step. Rows are matched by WHMCS id, so uploading the same file again updates instead of duplicating.

Column headers: WHMCS's report headers ("ID", "First Name", "Company Name", "Email Address", ...)
or the raw column names (id, firstname, companyname, email, ...) are both accepted; the exact
header set of each WHMCS report is UNCONFIRMED, so headers are matched loosely (case, spaces and
underscores ignored) through the aliases below. The full history (invoices, transactions) comes
over with `manage.py import_whmcs`, not through spreadsheets.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils.text import slugify
from import_export import fields, resources
from import_export.formats.base_formats import CSV, XLSX

from core.accounts.models import User
from core.catalog.models import Currency, Price
from core.imports.models import WhmcsClientUpload, WhmcsProductUpload, WhmcsServiceUpload
from integrations.whmcs.cleaning import clean_email, fix_text, parse_date
from integrations.whmcs.mappings import CLIENT_STATUS, PRICE_CYCLES, SERVICE_STATUS, platform_for

FORMATS = [CSV, XLSX]


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]+", "", (header or "").strip().lower())


class _WhmcsReportResource(resources.ModelResource):
    """Renames the file's headers to the canonical ones before the rows are read."""

    ALIASES: dict[str, tuple[str, ...]] = {}

    def before_import(self, dataset, **kwargs):
        lookup = {
            _key(alias): canonical for canonical, aliases in self.ALIASES.items() for alias in (canonical, *aliases)
        }
        dataset.headers = [lookup.get(_key(h), h) for h in dataset.headers]
        super().before_import(dataset, **kwargs)


class WhmcsClientResource(_WhmcsReportResource):
    ALIASES = {
        "ID": ("id", "clientid", "client id"), "First Name": ("firstname",), "Last Name": ("lastname",),
        "Company Name": ("companyname", "company"), "Email Address": ("email", "emailaddress"),
        "Address 1": ("address1",), "Address 2": ("address2",), "City": ("city",), "State": ("state", "region"),
        "Postcode": ("postcode", "zip"), "Country": ("country",), "Phone Number": ("phonenumber", "phone"),
        "Tax ID": ("taxid", "tax_id", "vat"), "Currency": ("currency", "currencycode"), "Status": ("status",),
    }  # fmt: skip
    whmcs_id = fields.Field(attribute="whmcs_id", column_name="ID")
    company = fields.Field(attribute="company", column_name="Company Name")
    address_line1 = fields.Field(attribute="address_line1", column_name="Address 1")
    address_line2 = fields.Field(attribute="address_line2", column_name="Address 2")
    city = fields.Field(attribute="city", column_name="City")
    region = fields.Field(attribute="region", column_name="State")
    postal_code = fields.Field(attribute="postal_code", column_name="Postcode")
    country = fields.Field(attribute="country", column_name="Country")
    phone = fields.Field(attribute="phone", column_name="Phone Number")
    vat_id = fields.Field(attribute="vat_id", column_name="Tax ID")
    email = fields.Field(attribute="user__email", column_name="Email Address", readonly=True)

    class Meta:
        model = WhmcsClientUpload
        fields = ("whmcs_id", "company", "address_line1", "address_line2", "city", "region", "postal_code",
                  "country", "phone", "vat_id", "email")  # fmt: skip
        import_id_fields = ("whmcs_id",)
        skip_unchanged = True
        use_transactions = True

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        instance.company = fix_text(instance.company, 200)[0]
        instance.country = (instance.country or "")[:2].upper()
        code = (row.get("Currency") or "").strip().upper()
        if code:
            if not Currency.objects.filter(code=code).exists():
                raise ValueError(f"Unknown currency '{code}': add it under Catalog → Currencies first.")
            instance.currency_id = code
        elif not instance.currency_id:
            instance.currency_id = settings.DEFAULT_CURRENCY
        status = CLIENT_STATUS.get((row.get("Status") or "").strip().title())
        if status:
            instance.status = status
        email = clean_email(row.get("Email Address")) or f"whmcs-client-{instance.whmcs_id}@import.invalid"
        names = {
            "first_name": fix_text(row.get("First Name"), 150)[0],
            "last_name": fix_text(row.get("Last Name"), 150)[0],
        }
        if instance.user_id:
            user = instance.user
            for name, value in names.items():
                setattr(user, name, value)
        else:
            user = User.objects.filter(email__iexact=email).first() or User(email=email, **names)
            user.set_unusable_password()
        instance._whmcs_user = user

    def before_save_instance(self, instance, row, **kwargs):
        # A dry run (the preview) saves inside the transaction that import-export rolls back.
        user = instance._whmcs_user
        user.save()
        instance.user = user


class WhmcsProductResource(_WhmcsReportResource):
    """Products with their module; optional price columns (Monthly, Quarterly, Semi-Annually, Annually,
    Biennially, Triennially) for the row's Currency become Prices (-1.00 or empty: that cycle is not offered)."""

    ALIASES = {
        "ID": ("id", "productid", "pid"), "Name": ("name", "productname", "product"), "Type": ("type",),
        "Group": ("group", "productgroup", "gid"), "Module": ("module", "servertype"), "Hidden": ("hidden",),
        "Retired": ("retired",), "Stock": ("qty", "stock", "quantity"), "Currency": ("currency",),
        "Monthly": ("monthly",), "Quarterly": ("quarterly",), "Semi-Annually": ("semiannually", "semiannual"),
        "Annually": ("annually", "annual"), "Biennially": ("biennially", "biennial"),
        "Triennially": ("triennially", "triennial"),
    }  # fmt: skip
    whmcs_id = fields.Field(attribute="whmcs_id", column_name="ID")
    name = fields.Field(attribute="name", column_name="Name")

    class Meta:
        model = WhmcsProductUpload
        fields = ("whmcs_id", "name")
        import_id_fields = ("whmcs_id",)
        skip_unchanged = False
        use_transactions = True

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        instance.name = fix_text(instance.name, 120)[0] or f"WHMCS product {instance.whmcs_id}"
        instance.slug = instance.slug or f"{slugify(instance.name)[:100] or 'product'}-w{instance.whmcs_id}"
        instance.platform, instance.service_type = platform_for(row.get("Module"), row.get("Type"))
        truthy = {"1", "yes", "on", "true"}
        if str(row.get("Retired") or "").strip().lower() in truthy:
            instance.status = "archived"
        elif str(row.get("Hidden") or "").strip().lower() in truthy:
            instance.status = "hidden"
        else:
            instance.status = "active"
        stock = str(row.get("Stock") or "").strip()
        instance.stock_quantity = max(int(stock), 0) if stock.lstrip("-").isdigit() else instance.stock_quantity

    def after_save_instance(self, instance, row, **kwargs):
        code = (row.get("Currency") or "").strip().upper()
        if not code:
            return
        for column, (cycle, _setup) in PRICE_CYCLES.items():
            header = {
                "monthly": "Monthly",
                "quarterly": "Quarterly",
                "semiannually": "Semi-Annually",
                "annually": "Annually",
                "biennially": "Biennially",
                "triennially": "Triennially",
            }[column]
            try:
                amount = Decimal(str(row.get(header) or "").strip())
            except InvalidOperation:
                continue
            if amount >= 0:
                Price.objects.update_or_create(
                    product=instance, currency_id=code, cycle=cycle, defaults={"amount": amount}
                )


class WhmcsServiceResource(_WhmcsReportResource):
    """Services by WHMCS id: client and product by their WHMCS ids (imported first), status,
    domain, IP, username, and the WHMCS billing facts kept in config['whmcs']."""

    ALIASES = {
        "ID": ("id", "serviceid"), "Client ID": ("userid", "clientid"), "Product ID": ("packageid", "pid", "productid"),
        "Domain": ("domain", "hostname"), "Status": ("domainstatus", "status"), "Billing Cycle": ("billingcycle",),
        "Amount": ("amount", "recurringamount"), "Next Due Date": ("nextduedate",), "Dedicated IP": ("dedicatedip", "ip"),
        "Username": ("username",),
    }  # fmt: skip
    whmcs_id = fields.Field(attribute="whmcs_id", column_name="ID")
    hostname = fields.Field(attribute="hostname", column_name="Domain")
    username = fields.Field(attribute="username", column_name="Username")

    class Meta:
        model = WhmcsServiceUpload
        fields = ("whmcs_id", "hostname", "username")
        import_id_fields = ("whmcs_id",)
        skip_unchanged = True
        use_transactions = True

    def import_instance(self, instance, row, **kwargs):
        from core.accounts.models import Customer
        from core.catalog.models import Product

        super().import_instance(instance, row, **kwargs)
        customer = Customer.objects.filter(whmcs_id=_int(row.get("Client ID"))).first()
        product = Product.objects.filter(whmcs_id=_int(row.get("Product ID"))).first()
        if customer is None or product is None:
            raise ValueError(
                f"Client {row.get('Client ID')} or product {row.get('Product ID')} is not imported yet: "
                "upload the clients and products reports (or run import_whmcs) first."
            )
        instance.customer, instance.product = customer, product
        instance.label = (instance.hostname or "")[:100]
        status = SERVICE_STATUS.get((row.get("Status") or "").strip().title())
        if status:
            instance.status = status
        ip = (row.get("Dedicated IP") or "").strip()
        instance.primary_ip = ip or None
        next_due, _ = parse_date(row.get("Next Due Date"))
        instance.config = {**(instance.config or {}), "whmcs": {
            **(instance.config or {}).get("whmcs", {}), "billing_cycle": row.get("Billing Cycle"),
            "amount": str(row.get("Amount") or ""), "next_due_date": next_due.isoformat() if next_due else None,
        }}  # fmt: skip


def _int(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None
