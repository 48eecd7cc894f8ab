"""Import runs (WHMCS migration) and the WHMCS facts that have no other home in our models.

Clients' groups, language and email opt-outs, and their contacts, are kept here keyed by their
WHMCS id so the importer stays re-runnable; nothing in billing or provisioning depends on them.
"""

from django.conf import settings
from django.db import models

from core import clock
from core.accounts.models import Customer
from core.catalog.models import Product
from core.encryption import EncryptedTextField
from core.provisioning.models import Service


class ImportRun(models.Model):
    """One start of the WHMCS importer, from the admin or the command line: options, progress, report."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        DIFFERENCES = "differences", "Finished with money differences"
        FAILED = "failed", "Failed"

    source_label = models.CharField(max_length=255, help_text="Source without its password")
    source_url = EncryptedTextField(blank=True, help_text="Encrypted; emptied when the run finishes")
    options = models.JSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.JSONField(default=dict, blank=True, help_text="Per table: rows done, total, rate")
    report = models.JSONField(default=dict, blank=True)
    report_html = models.TextField(blank=True)
    report_csv = models.TextField(blank=True)
    error = models.TextField(blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("run_import", "Can start a WHMCS import")]

    def __str__(self):
        return f"Import {self.pk} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.DIFFERENCES, self.Status.FAILED)


class ClientGroup(models.Model):
    """A WHMCS client group (discount, suspension exemption), kept for reference and reports."""

    whmcs_id = models.PositiveIntegerField("WHMCS ID", unique=True)
    name = models.CharField(max_length=100)
    colour = models.CharField(max_length=16, blank=True)
    discount_percent = models.DecimalField(max_digits=6, decimal_places=2, default=0)
    suspension_exempt = models.BooleanField(default=False)
    separate_invoices = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ImportedClientDetails(models.Model):
    """What WHMCS knew about a client beyond our Customer fields."""

    customer = models.OneToOneField("accounts.Customer", on_delete=models.CASCADE, related_name="whmcs_details")
    whmcs_id = models.PositiveIntegerField("WHMCS ID", unique=True)
    group = models.ForeignKey(ClientGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="clients")
    whmcs_status = models.CharField("WHMCS status", max_length=16, blank=True)
    language = models.CharField(max_length=32, blank=True)
    email_opt_out = models.BooleanField(default=False)
    marketing_opt_in = models.BooleanField(default=False)
    default_gateway = models.CharField(max_length=64, blank=True)
    credit_balance = models.DecimalField(
        "WHMCS credit balance", max_digits=14, decimal_places=2, default=0, help_text="tblclients.credit as read"
    )

    class Meta:
        verbose_name_plural = "imported client details"

    def __str__(self):
        return f"WHMCS client {self.whmcs_id}"


class ImportedContact(models.Model):
    """A WHMCS contact (billing/technical contact or old sub-account) of a client."""

    customer = models.ForeignKey("accounts.Customer", on_delete=models.CASCADE, related_name="whmcs_contacts")
    whmcs_id = models.PositiveIntegerField("WHMCS ID", unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    company = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    email_preferences = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["customer", "whmcs_id"]

    def __str__(self):
        return f"{self.first_name} {self.last_name}".strip() or self.email


class ImportedClientUser(models.Model):
    """A WHMCS 8 login user of a client who is not the client's owner (tblusers_clients row).

    Our customers have one login each (Customer.user), so such a user becomes a Contact of the
    customer (`contact`) and their login facts are kept here: the WHMCS password hash in the form
    core.accounts.hashers checks, and the permissions WHMCS gave them on this client.
    """

    customer = models.ForeignKey("accounts.Customer", on_delete=models.CASCADE, related_name="whmcs_users")
    contact = models.ForeignKey(
        "accounts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="whmcs_users"
    )
    whmcs_id = models.PositiveIntegerField("WHMCS ID", unique=True, help_text="tblusers_clients.id")
    whmcs_user_id = models.PositiveIntegerField("WHMCS user ID", db_index=True, help_text="tblusers.id")
    email = models.CharField(max_length=254, blank=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    password = models.CharField(max_length=255, blank=True, help_text="WHMCS hash as core.accounts.hashers reads it")
    permissions = models.JSONField(default=list, blank=True)
    email_verified = models.BooleanField(default=False)

    class Meta:
        ordering = ["customer", "whmcs_id"]

    def __str__(self):
        return self.email or f"WHMCS user {self.whmcs_user_id}"


# Proxies that carry the admin's upload pages for WHMCS's own CSV/XLSX data-export reports
# (backoffice/resources_whmcs.py): one per report, matched by WHMCS id.
class WhmcsClientUpload(Customer):
    class Meta:
        proxy = True
        verbose_name = "WHMCS clients report upload"


class WhmcsProductUpload(Product):
    class Meta:
        proxy = True
        verbose_name = "WHMCS products and pricing report upload"


class WhmcsServiceUpload(Service):
    class Meta:
        proxy = True
        verbose_name = "WHMCS services report upload"
