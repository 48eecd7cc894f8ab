"""Analytics tables: the monthly MRR snapshot per customer (refreshed by a task) and finance export jobs."""

import uuid

from django.conf import settings
from django.db import models

from core import clock


class Movement(models.TextChoices):
    NEW = "new", "New"
    EXPANSION = "expansion", "Expansion"
    CONTRACTION = "contraction", "Contraction"
    CHURNED = "churned", "Churned"
    REACTIVATED = "reactivated", "Reactivated"
    RETAINED = "retained", "Unchanged"


class CustomerMRR(models.Model):
    """One customer's MRR in one currency at the end of a month, beside the month before, and what moved.

    Written only by core.analytics.movement.refresh_mrr_snapshot (the hourly django-q2 task
    `core.analytics.tasks.refresh_mrr_snapshots`): the current month is its live state as of
    `refreshed_at`; a closed month is its state at the month's end. A row exists when either
    figure is above zero, so SUM(previous_mrr) is the opening MRR and SUM(mrr) the closing MRR.
    Amounts are normalised per month, after coupons, before tax, unrounded (4 places).
    """

    month = models.DateField(help_text="First day of the month")
    customer = models.ForeignKey("accounts.Customer", on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    mrr = models.DecimalField(max_digits=16, decimal_places=4)
    previous_mrr = models.DecimalField(max_digits=16, decimal_places=4)
    movement = models.CharField(max_length=16, choices=Movement.choices)
    refreshed_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name = "customer MRR movement"
        ordering = ["-month", "customer_id"]
        constraints = [
            models.UniqueConstraint(fields=["month", "customer", "currency"], name="customermrr_unique_month"),
        ]
        indexes = [models.Index(fields=["month", "movement", "currency"])]

    def __str__(self):
        return f"{self.month:%Y-%m} customer {self.customer_id} {self.currency} {self.get_movement_display()}"

    @property
    def change(self):
        return self.mrr - self.previous_mrr


class ExportJob(models.Model):
    """A finance export built by a django-q2 task into a file under MEDIA_ROOT, downloaded by staff only."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=32)
    file_format = models.CharField(max_length=4, default="csv")
    date_from = models.DateField()
    date_to = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="exports/", blank=True, max_length=255)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.kind} {self.date_from}..{self.date_to} ({self.file_format})"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(self.rows_done * 100 / self.rows_total) if self.rows_total else 0


class MRRMovementTotal(models.Model):
    """CustomerMRR summed per month, currency and movement (written with it), so charts read a few rows."""

    month = models.DateField()
    currency = models.CharField(max_length=3)
    movement = models.CharField(max_length=16, choices=Movement.choices)
    customers = models.PositiveIntegerField(default=0)
    mrr = models.DecimalField(max_digits=18, decimal_places=4)
    previous_mrr = models.DecimalField(max_digits=18, decimal_places=4)
    refreshed_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-month", "currency", "movement"]
        constraints = [
            models.UniqueConstraint(fields=["month", "currency", "movement"], name="mrrmovementtotal_unique"),
        ]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.currency} {self.movement}"


class DashboardSnapshot(models.Model):
    """The dashboard figures that read whole tables, computed by a task so the page reads one row.

    Written only by core.analytics.snapshot.refresh_dashboard_snapshot (the django-q2 task
    `core.analytics.tasks.refresh_snapshots`, hourly after the MRR snapshot, or queued by staff
    with "Refresh now"). `figures` holds MRR per product and currency, paying customers, churn over
    30 days, revenue, refunds and disputes per month, cancellation reasons, receivables, customers
    and services by status; Decimals and dates tagged so they read back exactly. The newest row is
    the one shown.
    """

    refreshed_at = models.DateTimeField(default=clock.now, db_index=True)
    duration_ms = models.PositiveIntegerField(default=0, help_text="How long the refresh took")
    figures = models.JSONField(default=dict)

    class Meta:
        ordering = ["-refreshed_at", "-id"]
        get_latest_by = ("refreshed_at", "id")

    def __str__(self):
        return f"Dashboard snapshot {self.refreshed_at:%Y-%m-%d %H:%M}"
