"""Import/export definitions (django-import-export) for the back office.

Customers and the catalog can be imported (every import is dry-run first and a file
with any bad row changes nothing); invoices and payments are export-only, because they
are created by the billing services, never by a spreadsheet.
"""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from import_export import fields, resources
from import_export.formats.base_formats import CSV, XLSX
from import_export.widgets import ForeignKeyWidget

from core.accounts.models import Customer, User
from core.billing.models import Invoice, Payment
from core.catalog.models import Currency, Price, Product

FORMATS = [CSV, XLSX]


class CurrencyCodeWidget(ForeignKeyWidget):
    """A currency by ISO code; an unknown code is a row error that names the code."""

    def __init__(self):
        super().__init__(Currency, "code")

    def clean(self, value, row=None, **kwargs):
        code = (value or "").strip().upper()
        if not code:
            raise ValueError("A currency code is required (e.g. USD).")
        try:
            return Currency.objects.get(code=code)
        except Currency.DoesNotExist as exc:
            raise ValueError(f"Unknown currency '{code}': add it under Catalog → Currencies first.") from exc


class CustomerResource(resources.ModelResource):
    """One row per customer, keyed by the login email (a missing user is created without a password)."""

    email = fields.Field(column_name="email", attribute="user__email", readonly=True)
    first_name = fields.Field(column_name="first_name", attribute="user__first_name", readonly=True)
    last_name = fields.Field(column_name="last_name", attribute="user__last_name", readonly=True)
    currency = fields.Field(column_name="currency", attribute="currency", widget=CurrencyCodeWidget())

    class Meta:
        model = Customer
        fields = (
            "id", "email", "first_name", "last_name", "company", "phone", "address_line1", "address_line2",
            "city", "region", "postal_code", "country", "vat_id", "is_tax_exempt", "currency", "status",
            "created_at",
        )  # fmt: skip
        export_order = fields
        import_id_fields = ("email",)
        skip_unchanged = True
        clean_model_instances = True
        use_transactions = True

    def get_queryset(self):
        return Customer.objects.select_related("user", "currency")

    def get_instance(self, instance_loader, row):
        email = (row.get("email") or "").strip()
        if not email:
            return None
        return self.get_queryset().filter(user__email__iexact=email).first()

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        email = (row.get("email") or "").strip().lower()
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ValueError(f"'{email}' is not a valid email address.") from exc
        country = (row.get("country") or "").strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise ValueError(f"Country '{country}' must be a two-letter ISO code such as US or DE.")
        instance.country = country
        user = instance.user if instance.user_id else User.objects.filter(email__iexact=email).first()
        if user is None:
            # Imported customers set their password through the portal's reset flow.
            user = User.objects.create_user(email=email, password=None)
        for attr in ("first_name", "last_name"):
            if row.get(attr) is not None:
                setattr(user, attr, str(row[attr]).strip())
        user.save()
        instance.user = user

    def dehydrate_currency(self, customer):
        return customer.currency_id


class ProductResource(resources.ModelResource):
    class Meta:
        model = Product
        fields = (
            "id", "slug", "name", "description", "service_type", "platform", "platform_settings", "cpu_cores",
            "ram_mb", "disk_gb", "bandwidth_quota_gb", "features", "stock_quantity", "status", "sort_order",
        )  # fmt: skip
        export_order = fields
        import_id_fields = ("slug",)
        skip_unchanged = True
        clean_model_instances = True
        use_transactions = True


class PriceResource(resources.ModelResource):
    """Prices keyed by (product slug, currency, cycle) so a catalog can move between installations."""

    product = fields.Field(column_name="product", attribute="product", widget=ForeignKeyWidget(Product, "slug"))
    currency = fields.Field(column_name="currency", attribute="currency", widget=CurrencyCodeWidget())

    class Meta:
        model = Price
        fields = ("id", "product", "currency", "cycle", "amount", "setup_fee", "overage_per_gb", "trial_days",
                  "is_active")  # fmt: skip
        export_order = fields
        import_id_fields = ("product", "currency", "cycle")
        skip_unchanged = True
        clean_model_instances = True
        use_transactions = True

    def get_queryset(self):
        return Price.objects.select_related("product", "currency")

    def dehydrate_currency(self, price):
        return price.currency_id


class InvoiceResource(resources.ModelResource):
    customer_email = fields.Field(column_name="customer_email", attribute="customer__user__email", readonly=True)
    customer_name = fields.Field(column_name="customer", readonly=True)
    currency = fields.Field(column_name="currency", attribute="currency_id", readonly=True)

    class Meta:
        model = Invoice
        fields = (
            "number", "kind", "purpose", "status", "customer_name", "customer_email", "currency", "issue_date",
            "due_date", "paid_at", "subtotal", "discount_total", "tax_total", "total", "amount_paid",
            "credit_applied", "amount_refunded", "reverse_charge",
        )  # fmt: skip
        export_order = fields

    def get_queryset(self):
        return Invoice.objects.select_related("customer__user").order_by("issue_date", "id")

    def dehydrate_customer_name(self, invoice):
        return invoice.customer.display_name


class PaymentResource(resources.ModelResource):
    customer_email = fields.Field(column_name="customer_email", attribute="customer__user__email", readonly=True)
    invoice_number = fields.Field(column_name="invoice", attribute="invoice__number", readonly=True)
    currency = fields.Field(column_name="currency", attribute="currency_id", readonly=True)

    class Meta:
        model = Payment
        fields = (
            "uuid", "kind", "status", "gateway", "gateway_transaction_id", "customer_email", "invoice_number",
            "currency", "amount", "fee", "reference", "received_at", "is_disputed",
        )  # fmt: skip
        export_order = fields

    def get_queryset(self):
        return Payment.objects.select_related("customer__user", "invoice").order_by("received_at", "id")
