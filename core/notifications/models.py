"""A record of each notification sent, keyed so a retried task never sends twice."""

from django.db import models

from core import clock


class Notification(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        DISCORD = "discord", "Discord"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    channel = models.CharField(max_length=16, choices=Channel.choices)
    event = models.CharField(max_length=64, db_index=True, help_text="Catalogue name, e.g. invoice_issued")
    dedupe_key = models.CharField(max_length=200, unique=True, help_text="One notification per key, ever")
    recipient = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.channel} {self.event} → {self.recipient}"
