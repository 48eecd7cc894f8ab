"""The outbox (one row per message, keyed so a retried task never sends twice), editable email
templates, suppressed addresses and each customer's mail preferences."""

from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from core import clock
from core.encryption import EncryptedTextField


class Notification(models.Model):
    """An outbox row: the rendered message, its delivery state and the provider's message id.

    `dedupe_key` is the idempotency key: one row per event and object, ever, so the same
    event fired twice (a retried task, a webhook delivered twice) sends one message.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        DISCORD = "discord", "Discord"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    channel = models.CharField(max_length=16, choices=Channel.choices)
    event = models.CharField(max_length=64, db_index=True, help_text="Catalogue name, e.g. invoice_issued")
    template = models.CharField(max_length=64, blank=True, help_text="Email template key")
    dedupe_key = models.CharField(
        "Idempotency key", max_length=200, unique=True, help_text="One notification per key, ever"
    )
    recipient = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    # Bodies are encrypted: a "service ready" mail carries credentials.
    text_body = EncryptedTextField("Text body", blank=True, default="")
    html_body = EncryptedTextField("HTML body", blank=True, default="")
    payload = models.JSONField(
        default=dict, blank=True, help_text="Attachment builder for email; level, fields and route for Discord"
    )
    essential = models.BooleanField(default=True)
    customer = models.ForeignKey(
        "accounts.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker started sending")
    error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=128, blank=True, db_index=True)
    resent_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resends", verbose_name="Resent from"
    )
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "outbox message"
        verbose_name_plural = "outbox"

    def __str__(self):
        return f"{self.channel} {self.event} → {self.recipient}"

    @property
    def idempotency_key(self) -> str:
        return self.dedupe_key


class EmailTemplate(models.Model):
    """The editable text of one catalogue email (seeded from templates/emails/<key>.*).

    Bodies are Django templates and may extend "emails/base.html"/"emails/base.txt".
    `clean()` renders all three parts with the catalogue's sample data, so a broken
    template is refused when staff save it, never discovered when a customer should get it.
    """

    key = models.CharField(max_length=64, unique=True, help_text="Template key from the catalogue")
    subject = models.CharField(max_length=255)
    text_body = models.TextField("Text body")
    html_body = models.TextField("HTML body")
    is_active = models.BooleanField(
        "Active", default=True, help_text="Inactive: the built-in file template is used instead"
    )
    updated_at = models.DateTimeField(default=clock.now)
    history = HistoricalRecords()

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return self.key

    def clean(self):
        from .templating import TemplateProblem, check_template

        try:
            check_template(self.key, self.subject, self.text_body, self.html_body)
        except TemplateProblem as exc:
            raise ValidationError({exc.part: exc.message}) from exc

    def save(self, *args, **kwargs):
        self.updated_at = clock.now()
        super().save(*args, **kwargs)
        from .templating import forget_cached

        forget_cached(self.key)


class EmailSuppression(models.Model):
    """An address the provider told us not to mail (hard bounce, complaint, rejection).

    Non-essential mail to it is skipped; essential mail (invoices, receipts, security) is
    still attempted. Staff lift a suppression once the customer fixes the address.
    """

    class Reason(models.TextChoices):
        BOUNCED = "bounced", "Hard bounce"
        COMPLAINED = "complained", "Spam complaint"
        REJECTED = "rejected", "Rejected by provider"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    address = models.EmailField(unique=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    esp = models.CharField("Provider", max_length=32, blank=True)
    detail = models.TextField(blank=True)
    event_id = models.CharField("Provider event ID", max_length=200, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    lifted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.address} ({self.get_reason_display()})"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


class NotificationPreference(models.Model):
    """The non-essential mail categories a customer switched off (catalogue.CATEGORIES)."""

    customer = models.OneToOneField(
        "accounts.Customer", on_delete=models.CASCADE, related_name="notification_preference"
    )
    opted_out = models.JSONField("Switched off", default=list, blank=True)
    updated_at = models.DateTimeField(default=clock.now)

    def __str__(self):
        return f"Preferences of {self.customer_id}"

    def wants(self, category: str) -> bool:
        return category not in (self.opted_out or [])
