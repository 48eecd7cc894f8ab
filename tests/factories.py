"""factory-boy factories for every domain model tests touch."""

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from core.accounts.models import Customer, User
from core.billing.models import Invoice, InvoiceLine, Payment, Subscription, TaxRate
from core.catalog.models import Currency, Price, Product
from core.provisioning.models import PlatformConnection, Service


class CurrencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Currency
        django_get_or_create = ("code",)

    code = "USD"
    name = factory.LazyAttribute(
        lambda o: {"USD": "US Dollar", "EUR": "Euro", "GBP": "Pound sterling"}.get(o.code, o.code)
    )
    symbol = factory.LazyAttribute(lambda o: {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}.get(o.code, o.code))
    exponent = factory.LazyAttribute(lambda o: {"JPY": 0, "KWD": 3}.get(o.code, 2))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffUserFactory(UserFactory):
    is_staff = True
    is_superuser = True
    email = factory.Sequence(lambda n: f"staff{n}@ezscale.example")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    user = factory.SubFactory(UserFactory)
    company = factory.Faker("company")
    address_line1 = factory.Faker("street_address")
    city = factory.Faker("city")
    postal_code = factory.Faker("postcode")
    country = "US"
    currency = factory.SubFactory(CurrencyFactory)


class PlatformConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlatformConnection
        django_get_or_create = ("name",)

    name = "sandbox"
    platform = "sandbox"
    base_url = "https://sandbox.invalid"
    api_key = "sandbox-key"


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"VPS {n}")
    slug = factory.Sequence(lambda n: f"vps-{n}")
    service_type = "vps"
    platform = "sandbox"
    cpu_cores = 2
    ram_mb = 4096
    disk_gb = 80
    bandwidth_quota_gb = 2000


class PriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Price

    product = factory.SubFactory(ProductFactory)
    currency = factory.SubFactory(CurrencyFactory)
    cycle = "monthly"
    amount = Decimal("20.00")
    setup_fee = Decimal("0.00")
    overage_per_gb = Decimal("0.0100")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    price = factory.SubFactory(PriceFactory, currency=factory.SelfAttribute("..customer.currency"))
    currency = factory.SelfAttribute("price.currency")
    cycle = factory.SelfAttribute("price.cycle")
    amount = factory.SelfAttribute("price.amount")
    status = "active"
    current_period_start = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0))
    current_period_end = factory.LazyAttribute(lambda o: o.current_period_start + dt.timedelta(days=30))


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service

    customer = factory.SubFactory(CustomerFactory)
    product = factory.SubFactory(ProductFactory)
    connection = factory.SubFactory(PlatformConnectionFactory)
    status = "active"
    hostname = factory.Sequence(lambda n: f"srv{n}.example.net")
    primary_ip = factory.Sequence(lambda n: f"203.0.113.{n % 250 + 1}")


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    customer = factory.SubFactory(CustomerFactory)
    currency = factory.SelfAttribute("customer.currency")
    status = "draft"
    purpose = "manual"


class InvoiceLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InvoiceLine

    invoice = factory.SubFactory(InvoiceFactory)
    description = "Line"
    quantity = Decimal("1")
    unit_amount = Decimal("10.00")
    amount = Decimal("10.00")


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    customer = factory.SubFactory(CustomerFactory)
    currency = factory.SelfAttribute("customer.currency")
    gateway = "manual"
    amount = Decimal("10.00")
    gateway_transaction_id = factory.Sequence(lambda n: f"txn_{n}")


class TaxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaxRate
        django_get_or_create = ("country", "region")

    name = "VAT 19%"
    country = "DE"
    region = ""
    rate = Decimal("19.000")
    is_eu_vat = True
