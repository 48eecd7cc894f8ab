"""Who did what, from where: business actions (history of field edits is simple-history's)."""

from django.conf import settings
from django.db import models

from core import clock


class AuditLog(models.Model):
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    impersonator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True, help_text="e.g. invoice.issue, service.suspend")
    object_type = models.CharField(max_length=64, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    object_repr = models.CharField(max_length=200, blank=True)
    # The customer the entry concerns (the object itself, or its owner), for the customer timeline
    # and the "by customer" filter; filled by services.record.
    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    message = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    source = models.CharField(
        max_length=16, default="system", db_index=True, help_text="admin, portal, api, task, webhook, import, system"
    )
    created_at = models.DateTimeField(default=clock.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["customer", "-created_at"], name="auditlog_customer_recent"),
        ]

    def __str__(self):
        return f"{self.action} {self.object_repr}".strip()

    @property
    def changed_fields(self) -> list[str]:
        """Field names whose value differs between `before` and `after` (what a diff shows)."""
        before, after = self.before or {}, self.after or {}
        return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
