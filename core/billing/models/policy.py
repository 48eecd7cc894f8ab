"""When unpaid services are suspended and terminated, and the actions held back for staff approval."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from core import clock
from core.catalog.models import ServiceType

from .invoices import Invoice


class SuspensionPolicy(models.Model):
    """Days after an invoice's due date before its services are suspended, then terminated, per service type."""

    service_type = models.CharField(max_length=16, choices=ServiceType.choices, unique=True)
    suspend_after_days = models.PositiveSmallIntegerField(default=5)
    terminate_after_days = models.PositiveSmallIntegerField(default=30)
    is_enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "suspension policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(terminate_after_days__gt=F("suspend_after_days")),
                name="suspensionpolicy_terminate_after_suspend",
            )
        ]

    def __str__(self):
        return f"{self.get_service_type_display()}: suspend +{self.suspend_after_days}d, terminate +{self.terminate_after_days}d"


class PendingPolicyAction(models.Model):
    """A suspension or termination the billing run held back for staff approval (blast-radius guard)."""

    class Action(models.TextChoices):
        SUSPEND = "suspend", "Suspend"
        TERMINATE = "terminate", "Terminate"

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting approval"
        APPROVED = "approved", "Approved and executed"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Approved, execution failed"

    service = models.ForeignKey("provisioning.Service", on_delete=models.CASCADE, related_name="pending_policy_actions")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    reason = models.CharField(max_length=255)
    run_date = models.DateField(help_text="The billing run that held this action back")
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["service", "action", "status"])]

    def __str__(self):
        return f"{self.get_action_display()} service {self.service_id} ({self.get_status_display()})"
