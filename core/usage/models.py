"""Bandwidth metering: daily rows per service, and the period total with alerts and overage."""

from django.db import models
from django.db.models import F, Q

from core import clock


class BandwidthUsage(models.Model):
    """Bytes in and out for one service on one UTC day (from ElastiFlow)."""

    service = models.ForeignKey("provisioning.Service", on_delete=models.CASCADE, related_name="bandwidth_days")
    day = models.DateField(db_index=True)
    bytes_in = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    collected_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["service", "day"], name="bandwidthusage_one_per_day")]

    def __str__(self):
        return f"{self.service_id} {self.day}"

    @property
    def total_bytes(self) -> int:
        return self.bytes_in + self.bytes_out


class BandwidthPeriod(models.Model):
    """A service's usage over one billing period: total, quota, alerts sent, overage billed."""

    service = models.ForeignKey("provisioning.Service", on_delete=models.CASCADE, related_name="bandwidth_periods")
    period_start = models.DateField()
    period_end = models.DateField()
    bytes_in = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    quota_bytes = models.PositiveBigIntegerField("Quota (bytes)", null=True, blank=True, help_text="Empty: unmetered")
    alert_75_sent_at = models.DateTimeField("75% alert sent at", null=True, blank=True)
    alert_90_sent_at = models.DateTimeField("90% alert sent at", null=True, blank=True)
    alert_100_sent_at = models.DateTimeField("100% alert sent at", null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    overage_bytes = models.PositiveBigIntegerField("Overage (bytes)", default=0)
    overage_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    overage_billed_at = models.DateTimeField(null=True, blank=True)
    overage_invoice = models.ForeignKey(
        "billing.Invoice", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the product counts (in, out, both or the larger of the two), kept with the totals so
    # lists can sort and filter on it; the overage is computed from it.
    counted_bytes = models.PositiveBigIntegerField(default=0)
    overage_currency = models.CharField(max_length=3, blank=True)
    overage_rate = models.DecimalField("Overage per GB", max_digits=14, decimal_places=4, null=True, blank=True)
    overage_billable_gb = models.DecimalField(
        "Billable GB", max_digits=14, decimal_places=3, null=True, blank=True, help_text="After the product's rounding"
    )
    # Staff waive or adjust a charge before it is invoiced (audited); the computed amount stays.
    computed_overage_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    adjustment_reason = models.CharField(max_length=255, blank=True)
    adjusted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(fields=["service", "period_start"], name="bandwidthperiod_one_per_start"),
            models.CheckConstraint(condition=Q(period_end__gt=F("period_start")), name="bandwidthperiod_positive"),
        ]

    def __str__(self):
        return f"{self.service_id} {self.period_start}–{self.period_end}"

    @property
    def total_bytes(self) -> int:
        return self.bytes_in + self.bytes_out

    @property
    def percent_used(self) -> int | None:
        if not self.quota_bytes:
            return None
        return self.counted_bytes * 100 // self.quota_bytes

    @property
    def is_charge_editable(self) -> bool:
        return self.overage_invoice_id is None


class BandwidthPolicy(models.Model):
    """How a product's traffic is metered and what happens past its quota.

    The quota itself is Product.bandwidth_quota_gb (empty: unmetered) and the price per GB over it
    is Price.overage_per_gb (per currency). 1 GB = 10^9 bytes. Products without a policy row use
    the defaults: the larger of in and out, per started GB, charge.
    """

    class Counting(models.TextChoices):
        MAX = "max", "Larger of in and out (transit)"
        BOTH = "both", "In + out"
        INBOUND = "in", "Inbound only"
        OUTBOUND = "out", "Outbound only"

    class Rounding(models.TextChoices):
        STARTED_GB = "started_gb", "Per started GB"
        STARTED_10GB = "started_10gb", "Per started 10 GB"
        EXACT = "exact", "Exact (to the MB)"

    class AtQuota(models.TextChoices):
        CHARGE = "charge", "Charge overage"
        SUSPEND = "suspend", "Suspend the service at 100 %"

    product = models.OneToOneField("catalog.Product", on_delete=models.CASCADE, related_name="bandwidth_policy")
    counting = models.CharField(max_length=8, choices=Counting.choices, default=Counting.MAX)
    rounding = models.CharField(max_length=16, choices=Rounding.choices, default=Rounding.STARTED_GB)
    at_quota = models.CharField("At 100 %", max_length=8, choices=AtQuota.choices, default=AtQuota.CHARGE)

    class Meta:
        verbose_name_plural = "bandwidth policies"

    def __str__(self):
        return f"{self.product}: {self.get_counting_display()}"

    def counted(self, bytes_in: int, bytes_out: int) -> int:
        return count_bytes(self.counting, bytes_in, bytes_out)


def count_bytes(counting: str, bytes_in: int, bytes_out: int) -> int:
    if counting == BandwidthPolicy.Counting.INBOUND:
        return bytes_in
    if counting == BandwidthPolicy.Counting.OUTBOUND:
        return bytes_out
    if counting == BandwidthPolicy.Counting.BOTH:
        return bytes_in + bytes_out
    return max(bytes_in, bytes_out)


class ServiceAddress(models.Model):
    """An IP address or routed prefix that belonged to a service from valid_from until valid_to.

    Traffic of an hour goes to the service that held the address at that hour, so an address
    moved from one customer to another on a date bills each for their own days.
    """

    class Source(models.TextChoices):
        PLATFORM = "platform", "Platform"
        STAFF = "staff", "Staff"

    service = models.ForeignKey("provisioning.Service", on_delete=models.CASCADE, related_name="addresses")
    network = models.CharField(max_length=49, db_index=True, help_text="IPv4/IPv6 address or CIDR prefix")
    valid_from = models.DateTimeField(default=clock.now)
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Empty: still assigned")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.PLATFORM)

    class Meta:
        ordering = ["network", "-valid_from"]
        verbose_name_plural = "service addresses"
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")), name="serviceaddress_interval"
            ),
        ]

    def __str__(self):
        return self.network

    def clean(self):
        from django.core.exceptions import ValidationError

        from .addresses import normalise_network

        try:
            self.network = normalise_network(self.network)
        except ValueError as exc:
            raise ValidationError({"network": str(exc)}) from exc


class CollectionWindow(models.Model):
    """One hourly window [start, start+1h) as collected: its provenance and whether it is trusted."""

    class Status(models.TextChoices):
        OK = "ok", "Collected"
        SUSPECT = "suspect", "Suspect (not billed)"
        FAILED = "failed", "Failed"

    start = models.DateTimeField(unique=True)
    status = models.CharField(max_length=8, choices=Status.choices, db_index=True)
    index_pattern = models.CharField(max_length=255, blank=True)
    schema = models.CharField(max_length=8, blank=True)
    query_hash = models.CharField(max_length=64, blank=True)
    search_requests = models.PositiveIntegerField(default=0)
    doc_count = models.PositiveBigIntegerField(default=0)
    total_bytes = models.PositiveBigIntegerField(default=0)
    services = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    collected_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-start"]

    def __str__(self):
        return f"{self.start:%Y-%m-%d %H:00} UTC"


class HourlyUsage(models.Model):
    """The ledger: bytes in and out for one service in one closed hour, with where they came from.

    Re-collecting a window replaces its rows (never adds to them); daily and period totals are
    derived from these rows.
    """

    service = models.ForeignKey("provisioning.Service", on_delete=models.CASCADE, related_name="bandwidth_hours")
    window_start = models.DateTimeField()
    bytes_in = models.PositiveBigIntegerField(default=0)
    bytes_out = models.PositiveBigIntegerField(default=0)
    doc_count = models.PositiveBigIntegerField(default=0)
    index_pattern = models.CharField(max_length=255)
    query_hash = models.CharField(max_length=64)
    collected_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-window_start"]
        constraints = [models.UniqueConstraint(fields=["service", "window_start"], name="hourlyusage_one_per_hour")]
        indexes = [models.Index(fields=["window_start"])]

    def __str__(self):
        return f"{self.service_id} {self.window_start:%Y-%m-%d %H:00}"

    @property
    def total_bytes(self) -> int:
        return self.bytes_in + self.bytes_out
