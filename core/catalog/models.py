"""Currencies, products (plans), prices per currency and cycle, stock."""

from decimal import Decimal

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from core import clock


class Currency(models.Model):
    code = models.CharField(max_length=3, primary_key=True, help_text="ISO 4217, e.g. USD")
    name = models.CharField(max_length=64)
    symbol = models.CharField(max_length=8)
    exponent = models.PositiveSmallIntegerField(default=2, help_text="Minor-unit digits: JPY 0, USD 2, KWD 3")
    # Units of this currency per one unit of the reporting currency (settings.DEFAULT_CURRENCY);
    # maintained by staff and used only by reports that add currencies.
    exchange_rate = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal("1"))
    is_active = models.BooleanField("Active", default=True)

    class Meta:
        verbose_name_plural = "currencies"
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(exponent__lte=4), name="currency_exponent_max_4"),
            models.CheckConstraint(condition=Q(exchange_rate__gt=0), name="currency_rate_positive"),
        ]

    def __str__(self):
        return self.code

    def save(self, *args, **kwargs):
        self.code = self.code.upper()
        super().save(*args, **kwargs)
        cache.delete(f"currency-exponent:{self.code}")

    @classmethod
    def exponent_for(cls, code: str) -> int | None:
        key = f"currency-exponent:{code}"
        found = cache.get(key)
        if found is None:
            found = cls.objects.filter(code=code).values_list("exponent", flat=True).first()
            if found is not None:
                cache.set(key, found, 300)
        return found


class ServiceType(models.TextChoices):
    VPS = "vps", "VPS"
    DEDICATED = "dedicated", "Dedicated server"
    HOSTING = "hosting", "Web hosting"
    GAME_SERVER = "game_server", "Game server"


class Platform(models.TextChoices):
    VIRTFUSION = "virtfusion", "VirtFusion"
    PTERODACTYL = "pterodactyl", "Pterodactyl"
    SYNERGYCP = "synergycp", "SynergyCP"
    ENHANCE = "enhance", "Enhance"
    SANDBOX = "sandbox", "Sandbox"
    MANUAL = "manual", "Manual (staff)"


# Which platform settings keys each platform needs (validated on save). Values are
# the platform's own ids (package ids, eggs, plans) that the driver passes through.
PLATFORM_SETTINGS_SCHEMA: dict[str, dict[str, type | tuple]] = {
    "virtfusion": {"package_id": int, "hypervisor_group_id": int, "os_template_id": (int, type(None))},
    "pterodactyl": {"egg_id": int, "nest_id": int, "location_id": int},
    "synergycp": {"os_id": (int, type(None))},
    "enhance": {"plan_id": int},
    "sandbox": {},
    "manual": {},
}


ORDER_OPTIONS_HELP = (
    'Choices offered at order, e.g. {"hostname": "required" | "optional" | "none", '
    '"locations": [{"id": 1, "label": "Frankfurt"}], "os_templates": [{"id": 12, "label": "Debian 12"}], '
    '"variables": [{"name": "SERVER_JARFILE", "label": "Server jar", "default": "server.jar", '
    '"required": true, "pattern": "^[a-z0-9._-]+$"}]}'
)
# "eggs" (game servers): the Pterodactyl eggs a customer may choose, each with its own variables,
# e.g. [{"id": 5, "label": "Paper", "nest_id": 1, "variables": [{"name": "MINECRAFT_VERSION", ...}]}].
ORDER_OPTION_KEYS = {"hostname", "locations", "os_templates", "variables", "eggs"}


class Product(models.Model):
    """A plan customers can buy: what it is, where it is provisioned, what it includes."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        HIDDEN = "hidden", "Hidden"
        ARCHIVED = "archived", "Archived"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    service_type = models.CharField(max_length=16, choices=ServiceType.choices, db_index=True)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    platform_connection = models.ForeignKey(
        "provisioning.PlatformConnection",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        help_text="Which panel new services go to (empty: the first active connection of the platform).",
    )
    platform_settings = models.JSONField(default=dict, blank=True)
    # Features shown to customers and passed to the platform.
    cpu_cores = models.PositiveSmallIntegerField("CPU cores", null=True, blank=True)
    ram_mb = models.PositiveIntegerField("RAM (MB)", null=True, blank=True)
    disk_gb = models.PositiveIntegerField("Disk (GB)", null=True, blank=True)
    bandwidth_quota_gb = models.PositiveIntegerField(
        "Bandwidth quota (GB)", null=True, blank=True, help_text="Empty: unmetered"
    )
    features = models.JSONField(default=dict, blank=True, help_text='Further features, e.g. {"ipv4": 1}')
    # What a customer chooses when ordering (see ORDER_OPTIONS_HELP): hostname rule, locations,
    # OS templates and game variables. Checked by core.billing.services.orders.validate_product_options.
    order_options = models.JSONField(default=dict, blank=True, help_text=ORDER_OPTIONS_HELP)
    stock_quantity = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited")
    requires_manual_approval = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    sort_order = models.PositiveIntegerField(default=0)
    whmcs_id = models.PositiveIntegerField("WHMCS ID", null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self):
        return self.name

    @property
    def is_in_stock(self) -> bool:
        return self.stock_quantity is None or self.stock_quantity > 0

    def clean(self):
        super().clean()
        validate_platform_settings(self.platform, self.platform_settings)
        if not isinstance(self.features, dict):
            raise ValidationError({"features": "Features must be a JSON object."})
        validate_order_options(self.order_options)


def validate_platform_settings(platform: str, data) -> None:
    if not isinstance(data, dict):
        raise ValidationError({"platform_settings": "Platform settings must be a JSON object."})
    schema = PLATFORM_SETTINGS_SCHEMA.get(platform, {})
    errors = []
    for key, kind in schema.items():
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if key not in data:
            if type(None) not in kinds:
                errors.append(f"'{key}' is required for {platform}.")
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, kinds):
            names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            errors.append(f"'{key}' must be {names}.")
    if errors:
        raise ValidationError({"platform_settings": errors})


def validate_order_options(data) -> None:
    """The shape of Product.order_options (staff edit it in the admin; customers' answers are checked
    against it at order time)."""
    if not isinstance(data, dict):
        raise ValidationError({"order_options": "Order options must be a JSON object."})
    errors = []
    unknown = set(data) - ORDER_OPTION_KEYS
    if unknown:
        errors.append(f"Unknown keys: {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(ORDER_OPTION_KEYS))}).")
    if data.get("hostname", "required") not in ("required", "optional", "none"):
        errors.append("'hostname' must be required, optional or none.")
    for key in ("locations", "os_templates"):
        choices = data.get(key, [])
        if not isinstance(choices, list) or not all(
            isinstance(c, dict) and c.get("id") not in (None, "") and c.get("label") for c in choices
        ):
            errors.append(f'\'{key}\' must be a list of {{"id": ..., "label": ...}}.')
    variables = data.get("variables", [])
    if not isinstance(variables, list) or not all(isinstance(v, dict) and v.get("name") for v in variables):
        errors.append('\'variables\' must be a list of {"name": ..., "label": ...}.')
    eggs = data.get("eggs", [])
    if not isinstance(eggs, list) or not all(
        isinstance(e, dict)
        and e.get("id") not in (None, "")
        and e.get("label")
        and isinstance(e.get("variables", []), list)
        and all(isinstance(v, dict) and v.get("name") for v in e.get("variables", []))
        for e in eggs
    ):
        errors.append(
            '\'eggs\' must be a list of {"id": ..., "label": ..., "nest_id": ..., "variables": [{"name": ...}]}.'
        )
    if errors:
        raise ValidationError({"order_options": errors})


class BillingCycle(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMI_ANNUAL = "semi_annual", "Semi-annual"
    ANNUAL = "annual", "Annual"
    BIENNIAL = "biennial", "Biennial"
    TRIENNIAL = "triennial", "Triennial"


# Every cycle is a whole number of calendar months: the billing engine (periods, renewals, MRR,
# usage periods) works from this table alone, so a cycle added here is billed like the others.
CYCLE_MONTHS = {
    BillingCycle.MONTHLY: 1,
    BillingCycle.QUARTERLY: 3,
    BillingCycle.SEMI_ANNUAL: 6,
    BillingCycle.ANNUAL: 12,
    BillingCycle.BIENNIAL: 24,
    BillingCycle.TRIENNIAL: 36,
}


class Price(models.Model):
    """What a product costs in one currency for one billing cycle."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="prices")
    cycle = models.CharField(max_length=16, choices=BillingCycle.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(0)])
    setup_fee = models.DecimalField(
        max_digits=14, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    overage_per_gb = models.DecimalField(
        "Overage per GB",
        max_digits=14,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(0)],
        help_text="Charged per GB over the product's bandwidth quota.",
    )
    trial_days = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField("Active", default=True)
    paypal_plan_id = models.CharField("PayPal plan ID", max_length=64, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["product__sort_order", "currency_id", "cycle"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "currency", "cycle"], name="price_unique_product_currency_cycle"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="price_amount_non_negative"),
            models.CheckConstraint(condition=Q(setup_fee__gte=0), name="price_setup_fee_non_negative"),
            models.CheckConstraint(condition=Q(overage_per_gb__gte=0), name="price_overage_non_negative"),
        ]

    def __str__(self):
        return f"{self.product} · {self.currency_id} {self.amount} / {self.get_cycle_display().lower()}"

    @property
    def cycle_months(self) -> int:
        return CYCLE_MONTHS[self.cycle]
