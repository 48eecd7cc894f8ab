"""Mirror of SupportPal tickets (for lists and reports) and portal announcements."""

from django.db import models

from core import clock


class SupportTicket(models.Model):
    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    service = models.ForeignKey(
        "provisioning.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    external_id = models.CharField("SupportPal ticket ID", max_length=32, unique=True)
    number = models.CharField(max_length=32, blank=True)
    subject = models.CharField(max_length=255)
    status = models.CharField(max_length=64, db_index=True)
    priority = models.CharField(max_length=64, blank=True)
    department = models.CharField(max_length=100, blank=True)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    last_reply_by_staff = models.BooleanField(default=False)
    opened_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now, db_index=True)
    raw = models.JSONField("Raw payload", default=dict, blank=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self):
        return f"#{self.number or self.external_id} {self.subject}"


class Announcement(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField()
    is_published = models.BooleanField("Published", default=False)
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-published_at", "-created_at"]

    def __str__(self):
        return self.title
