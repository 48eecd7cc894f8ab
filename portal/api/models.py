"""What the API remembers between requests: the answers it gave to POSTs sent with an Idempotency-Key."""

from django.conf import settings
from django.db import models

from core import clock
from core.encryption import EncryptedTextField


class IdempotencyKey(models.Model):
    """One Idempotency-Key a user sent, the request it came with (as a hash) and the answer given.

    The answer is stored encrypted: it can hold a new API token's secret, shown once.
    `status_code` is empty while the first request with this key is still running.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = EncryptedTextField(blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=clock.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]

    def __str__(self):
        return f"{self.key} ({self.status_code or 'running'})"
