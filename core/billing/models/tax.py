"""Tax rates and the gapless number sequences invoices and credit notes take their numbers from."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

# --- Tax ---------------------------------------------------------------------


class TaxRate(models.Model):
    """A tax rate for a country (and optionally a region within it)."""

    name = models.CharField(max_length=64, help_text="Shown on invoices, e.g. 'VAT 19%'")
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    region = models.CharField(max_length=100, blank=True, help_text="Empty: the whole country")
    rate = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Percent, e.g. 19.000",
    )
    is_eu_vat = models.BooleanField(default=False, help_text="EU VAT: reverse charge applies to B2B in other EU states")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["country", "region"]
        constraints = [
            models.UniqueConstraint(fields=["country", "region"], name="taxrate_unique_country_region"),
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lte=100), name="taxrate_rate_0_100"),
        ]

    def __str__(self):
        where = f"{self.country}-{self.region}" if self.region else self.country
        return f"{self.name} ({where})"


# --- Numbering ------------------------------------------------------------------


class NumberSequence(models.Model):
    """A gapless counter per series (and year). Locked with select_for_update when a number is taken."""

    series = models.CharField(max_length=32, help_text="e.g. 'invoice', 'credit_note'")
    year = models.PositiveIntegerField(default=0, help_text="0 when the series does not restart each year")
    last_value = models.PositiveBigIntegerField(default=0)
    format = models.CharField(max_length=64, default="INV-{year}-{seq:06d}")

    class Meta:
        ordering = ["series", "-year"]
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="numbersequence_unique_series_year")]

    def __str__(self):
        return f"{self.series} {self.year or ''} at {self.last_value}".strip()
