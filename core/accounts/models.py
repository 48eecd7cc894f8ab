"""Users (email login), the customer record and API tokens."""

import hashlib
import secrets

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from core import clock


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


class User(AbstractBaseUser, PermissionsMixin):
    """Anyone who logs in: staff (is_staff) or a customer (has a Customer record)."""

    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField("Staff status", default=False)
    is_active = models.BooleanField("Active", default=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    date_joined = models.DateTimeField(default=clock.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        # Admin search by name (prefix match, backoffice/admin/scale.py) without reading every user.
        indexes = [models.Index(fields=["last_name"], name="user_last_name_idx"),
                   models.Index(fields=["first_name"], name="user_first_name_idx")]  # fmt: skip

    def __str__(self):
        return self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_full_name(self):
        return self.full_name

    def get_short_name(self):
        return self.first_name or self.email


class Customer(models.Model):
    """The customer record (profile) behind a portal user: who they are, where they are billed."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        BANNED = "banned", "Banned"

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="customer")
    company = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    # Billing address (what goes on invoices).
    address_line1 = models.CharField("Address line 1", max_length=200, blank=True)
    address_line2 = models.CharField("Address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField("State / region", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2, e.g. US, DE, GB")
    # Shipping address (dedicated hardware, contracts).
    shipping_same_as_billing = models.BooleanField(default=True)
    shipping_line1 = models.CharField("Shipping address line 1", max_length=200, blank=True)
    shipping_line2 = models.CharField("Shipping address line 2", max_length=200, blank=True)
    shipping_city = models.CharField(max_length=100, blank=True)
    shipping_region = models.CharField("Shipping state / region", max_length=100, blank=True)
    shipping_postal_code = models.CharField(max_length=20, blank=True)
    shipping_country = models.CharField(max_length=2, blank=True)

    vat_id = models.CharField("VAT ID", max_length=32, blank=True)
    is_tax_exempt = models.BooleanField("Tax exempt", default=False)
    currency = models.ForeignKey("catalog.Currency", on_delete=models.PROTECT, related_name="+")
    auto_apply_credit = models.BooleanField(
        "Apply credit automatically", default=True, help_text="Apply credit balance to invoices at issue."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    # Suspension policy overrides (per customer).
    suspension_exempt = models.BooleanField("Exempt from suspension", default=False)
    extra_grace_days = models.PositiveIntegerField(default=0)
    notes = models.TextField(blank=True)
    whmcs_id = models.PositiveIntegerField("WHMCS ID", null=True, blank=True, unique=True)
    supportpal_user_id = models.CharField("SupportPal user ID", max_length=64, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["country"]),
            # The admin list newest first and its search (prefix match) on 100,000+ customers.
            models.Index(fields=["created_at"], name="customer_created_idx"),
            models.Index(fields=["company"], name="customer_company_idx"),
            models.Index(fields=["phone"], name="customer_phone_idx"),
            models.Index(fields=["vat_id"], name="customer_vat_id_idx"),
        ]
        permissions = [("impersonate_customer", "Can impersonate customers")]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.company or self.user.full_name

    @property
    def email(self) -> str:
        return self.user.email

    def billing_address(self) -> dict:
        """The address block copied onto an invoice at issue."""
        return {
            "name": self.user.full_name,
            "company": self.company,
            "email": self.user.email,
            "line1": self.address_line1,
            "line2": self.address_line2,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
            "vat_id": self.vat_id,
        }


class CustomerNote(models.Model):
    """A staff-only note on a customer (never shown in the portal or the API); pinned notes come first."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="staff_notes")
    author = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    body = models.TextField()
    is_pinned = models.BooleanField("Pinned", default=False)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-is_pinned", "-created_at", "-pk"]
        verbose_name = "staff note"

    def __str__(self):
        return self.body[:60]


class ApiToken(models.Model):
    """A customer's API token. Only a SHA-256 of the secret is stored; scopes limit what it may do."""

    SCOPES = ("read", "write", "billing", "services")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=clock.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @staticmethod
    def generate_secret() -> str:
        return "ezs_" + secrets.token_urlsafe(32)

    @property
    def is_active(self) -> bool:
        now = clock.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @classmethod
    def active_q(cls) -> Q:
        now = clock.now()
        return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class Contact(models.Model):
    """Another person at a customer who hears from us; with `receives_invoices` they get every invoice email."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=150)
    email = models.EmailField()
    receives_invoices = models.BooleanField("Receives invoices", default=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint(fields=["customer", "email"], name="contact_unique_email_per_customer")]

    def __str__(self):
        return f"{self.name} <{self.email}>"


class LoginSession(models.Model):
    """One signed-in browser of a user: lets them see where they are logged in and end those sessions.

    The session itself lives in Django's session store (whatever engine is configured); this row
    only remembers its key, so "log out everywhere" deletes those keys from the store.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="login_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.user} @ {self.ip_address or '?'}"

    @property
    def browser_label(self) -> str:
        """'Firefox on Windows', 'Chrome on Android': enough to recognise a session, from its user agent."""
        agent = self.user_agent or ""
        browsers = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
                    ("Safari/", "Safari"))  # fmt: skip
        systems = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Windows", "Windows"),
                   ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))  # fmt: skip
        browser = next((name for marker, name in browsers if marker in agent), "")
        system = next((name for marker, name in systems if marker in agent), "")
        if not browser and not system:
            return agent[:60] or "Unknown browser"
        return f"{browser or 'Browser'} on {system}" if system else browser
