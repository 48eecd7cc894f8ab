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
