"""The notification catalogue: every message the business sends, by name.

Each email event names its template (a DB `EmailTemplate` row, seeded from
`templates/emails/<template>.txt/.html`), whether it is essential (always sent, whatever the
customer's preferences or an earlier bounce) and, if not, the preference category a customer
can switch off. `variables` documents what a template may use; `sample` is the data the
admin preview and the save-time check render with.

Staff alerts go to Discord, routed to one webhook per channel (billing, provisioning, security).

Callers send with `services.send_email(event, template=..., ...)` (existing callers) or
`services.notify(event, to=..., context=...)`, which looks the template up here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

EMAIL = "email"
DISCORD = "discord"

# Preference categories a customer may switch off (essential mail has none).
CATEGORIES = {
    "reminders": "Reminders before an invoice is due",
    "usage": "Bandwidth usage alerts",
    "support": "Replies to your support tickets",
    "account": "Plan changes and other account updates",
}

COMMON_VARIABLES = {
    "company": "The company: company.name, company.address, company.email, company.website, company.vat_id",
    "site_url": "Base URL of the portal, e.g. https://billing.example.com",
    "subject": "The subject the sending code proposes (used when a template's subject is just {{ subject }})",
}

_INVOICE = {
    "number": "Invoice number, e.g. INV-2026-000042",
    "kind": "Invoice or Credit note",
    "customer_name": "Billing name on the invoice",
    "total": "Invoice total with currency, e.g. USD 120.00",
    "amount_due": "Amount still due with currency",
    "due_date": "Due date (YYYY-MM-DD)",
    "status": "Invoice status: issued, paid, void",
    "pay_url": "Portal page to pay the invoice",
}
_INVOICE_SAMPLE = {
    "number": "INV-2026-000042",
    "kind": "Invoice",
    "customer_name": "Ada Lovelace",
    "total": "USD 120.00",
    "amount_due": "USD 120.00",
    "due_date": "2026-12-13",
    "status": "issued",
    "pay_url": "https://billing.example.com/invoices/0b9f/pay/",
}
_SERVICE = {
    "product": "Product name, e.g. VPS Large",
    "label": "Service label or hostname",
    "service_path": "Portal path of the service, e.g. /services/<uuid>/",
}
_SERVICE_SAMPLE = {"product": "VPS Large", "label": "web-01.example.com", "service_path": "/services/7c1e/"}
_BANDWIDTH = {
    "customer_name": "Customer name",
    "service_name": "The service, e.g. web-01.example.com",
    "threshold": "Threshold reached: 75, 90 or 100",
    "percent": "Exact share of the quota used",
    "used": "Traffic used this period, e.g. 7.5 TB",
    "quota": "Included traffic, e.g. 10 TB",
    "period_start": 'First day of the usage period (a date: use |date:"Y-m-d")',
    "period_end": "Last day of the usage period (a date)",
    "suspend": "True when the plan suspends at 100 %",
    "overage_rate": "Price per GB over the quota (may be empty)",
}


@dataclass(frozen=True)
class Event:
    name: str
    title: str
    channel: str = EMAIL
    template: str = ""  # email template key; defaults to the event name
    essential: bool = True
    category: str = ""  # preference category for non-essential mail
    subject: str = ""  # default subject template (Django template syntax)
    variables: dict[str, str] = field(default_factory=dict)
    sample: dict = field(default_factory=dict)
    resendable: bool = True  # False where a resend would leak secrets a second time (credentials)
    attachment: str = ""  # what the mail carries, for the catalogue page
    discord_channel: str = ""  # for staff alerts: billing | provisioning | security

    @property
    def template_key(self) -> str:
        return self.template or self.name


def _email(name, title, subject, variables, sample, **kw) -> Event:
    return Event(name=name, title=title, subject=subject, variables=variables, sample=sample, **kw)


EVENTS: dict[str, Event] = {
    e.name: e
    for e in [
        # Account and security (always sent)
        _email("welcome", "Welcome", "Welcome to {{ company.name }}",
               {"name": "First name (or email)", "email": "Login email", "portal_url": "Portal URL",
                "verify_url": "Email confirmation link (optional)"},
               {"name": "Ada", "email": "ada@example.com", "portal_url": "https://billing.example.com/",
                "verify_url": ""}),
        _email("email_verification", "Email verification", "Confirm your email address",
               {"name": "First name (or email)", "verify_url": "Confirmation link", "expires_hours": "Link lifetime"},
               {"name": "Ada", "verify_url": "https://billing.example.com/verify/abc123/", "expires_hours": 24}),
        _email("password_reset", "Password reset", "Reset your {{ company.name }} password",
               {"name": "First name (or email)", "reset_url": "One-time reset link", "expires_hours": "Link lifetime"},
               {"name": "Ada", "reset_url": "https://billing.example.com/reset/MQ/abc-123/", "expires_hours": 3}),
        _email("new_login", "New login from an unknown device", "New sign-in to your {{ company.name }} account",
               {"name": "First name (or email)", "when": "Time of the login (UTC)", "ip_address": "IP address",
                "user_agent": "Browser / device", "location": "Approximate location (may be empty)"},
               {"name": "Ada", "when": "2026-12-06 05:12 UTC", "ip_address": "203.0.113.7",
                "user_agent": "Firefox on Linux", "location": "Amsterdam, NL"}),
        # Orders and invoices (always sent)
        _email("order_received", "Order received", "We received your order #{{ order_number }}",
               {"customer_name": "Customer name", "order_number": "Order number", "items": "List of item names",
                "total": "Order total with currency", "pay_url": "Where to pay the first invoice"},
               {"customer_name": "Ada Lovelace", "order_number": 1042, "items": ["VPS Large (monthly)"],
                "total": "USD 120.00", "pay_url": "https://billing.example.com/invoices/0b9f/pay/"}),
        _email("invoice_issued", "Invoice issued (PDF attached)", "{{ kind }} {{ number }} from {{ company.name }}",
               _INVOICE, _INVOICE_SAMPLE, attachment="Invoice PDF"),
        _email("renewal_invoice", "Renewal invoice issued (PDF attached)",
               "{{ kind }} {{ number }} from {{ company.name }}",
               {**_INVOICE, "auto_charge": "True when the saved payment method will be charged"},
               {**_INVOICE_SAMPLE, "auto_charge": True}, attachment="Invoice PDF"),
        _email("invoice_reminder", "Invoice reminder before due", "Invoice {{ number }} is due on {{ due_date }}",
               {**_INVOICE, "days_left": "Days until the due date", "auto_charge": "Will be charged automatically"},
               {**_INVOICE_SAMPLE, "days_left": 3, "auto_charge": False},
               essential=False, category="reminders"),
        _email("invoice_receipt", "Payment received (receipt)", "Payment received for invoice {{ number }}",
               {"number": "Invoice number", "amount": "Amount paid with currency", "gateway": "How it was paid",
                "reference": "Gateway reference", "paid_in_full": "True when nothing is left to pay"},
               {"number": "INV-2026-000042", "amount": "USD 120.00", "gateway": "Stripe",
                "reference": "pi_3QH2x2", "paid_in_full": True}),
        _email("invoice_payment_failed", "Payment failed (how to fix)", "Payment failed for invoice {{ number }}",
               {"number": "Invoice number", "amount_due": "Amount due", "reason": "Why the payment failed",
                "next_attempt": "Date of the next automatic attempt (may be empty)", "pay_url": "Where to pay"},
               {"number": "INV-2026-000042", "amount_due": "USD 120.00", "reason": "Your card was declined.",
                "next_attempt": "2026-12-09", "pay_url": "https://billing.example.com/invoices/0b9f/pay/"}),
        _email("invoice_action_required", "Action required (3-D Secure)",
               "Please confirm the payment of invoice {{ number }}",
               {"number": "Invoice number", "amount_due": "Amount due", "pay_url": "Where to confirm the payment"},
               {"number": "INV-2026-000042", "amount_due": "USD 120.00",
                "pay_url": "https://billing.example.com/invoices/0b9f/pay/"}),
        _email("overdue_notice", "Overdue notice (per dunning step)",
               "{% if step >= 3 %}Final notice: {% endif %}invoice {{ number }} is overdue",
               {**_INVOICE, "step": "Dunning step (1, 2, 3...)", "days_overdue": "Days since the due date",
                "suspend_on": "Date services will be suspended (may be empty)"},
               {**_INVOICE_SAMPLE, "step": 1, "days_overdue": 3, "suspend_on": "2026-12-20"}),
        # Services
        _email("service_ready", "Service ready (credentials, once)", "Your {{ product }} is ready",
               {**_SERVICE, "customer_name": "Customer name", "hostname": "Hostname", "primary_ip": "Main IP",
                "ip_addresses": "All IP addresses", "username": "Login user name",
                "credentials_token": "Sealed credentials (the template unseals them; never stored in clear)"},
               {**_SERVICE_SAMPLE, "customer_name": "Ada Lovelace", "hostname": "web-01.example.com",
                "primary_ip": "198.51.100.10", "ip_addresses": ["198.51.100.10"], "username": "root",
                "credentials_token": ""}, resendable=False),
        _email("service_suspended", "Service suspended", "Your {{ product }} has been suspended",
               {**_SERVICE, "reason": "Why it was suspended"}, {**_SERVICE_SAMPLE, "reason": "Invoice overdue"}),
        _email("service_unsuspended", "Service unsuspended", "Your {{ product }} is running again",
               _SERVICE, _SERVICE_SAMPLE),
        _email("service_reinstalled", "Reinstall finished", "Your {{ product }} has been reinstalled",
               {**_SERVICE, "template": "Operating system or game it now runs (may be empty)",
                "new_password": "True when the new password is waiting on the service page"},
               {**_SERVICE_SAMPLE, "template": "Debian 12", "new_password": True}),
        _email("service_terminated", "Service terminated", "Your {{ product }} has been terminated",
               {**_SERVICE, "reason": "Why it was terminated", "data_deleted": "True when data is gone"},
               {**_SERVICE_SAMPLE, "reason": "Cancelled at the end of the period", "data_deleted": True}),
        _email("service_refunded", "Service could not be set up (refund)", "We could not set up your {{ product }}",
               {"customer_name": "Customer name", "product": "Product", "amount": "Amount returned",
                "mode": "refund or credit", "invoice": "Invoice number"},
               {"customer_name": "Ada Lovelace", "product": "Dedicated E3", "amount": "USD 99.00",
                "mode": "refund", "invoice": "INV-2026-000042"}),
        _email("plan_changed", "Upgrade or downgrade done", "Your {{ product }} is now on {{ new_plan }}",
               {**_SERVICE, "old_plan": "Previous plan", "new_plan": "New plan",
                "direction": "upgrade or downgrade", "amount": "Prorated charge or credit (may be empty)"},
               {**_SERVICE_SAMPLE, "old_plan": "VPS Medium", "new_plan": "VPS Large", "direction": "upgrade",
                "amount": "USD 12.40"}),
        _email("subscription_cancelled", "Cancellation confirmed", "Your {{ product }} subscription is cancelled",
               {"product": "Product", "at_period_end": "True when it runs until the period ends",
                "ends_on": "Last day of service"},
               {"product": "VPS Large", "at_period_end": True, "ends_on": "2026-12-31"}),
        # Usage (switchable)
        *[
            _email(f"bandwidth_{p}", f"Bandwidth {p} %",
                   "{{ service_name }}: {{ threshold }}% of your bandwidth quota used", _BANDWIDTH,
                   {"customer_name": "Ada Lovelace", "service_name": "web-01.example.com", "threshold": p,
                    "percent": p, "used": f"{p / 10:.1f} TB", "quota": "10 TB",
                    "period_start": dt.date(2026, 12, 1), "period_end": dt.date(2026, 12, 31),
                    "suspend": False, "overage_rate": "0.01 USD per GB"},
                   template="bandwidth_alert",
                   # 100 %: the service is suspended or overage is billed, so it always goes out.
                   essential=p == 100, category="" if p == 100 else "usage")
            for p in (75, 90, 100)
        ],
        # Support (switchable)
        _email("ticket_reply", "Ticket reply", "[#{{ ticket_number }}] {{ ticket_subject }}",
               {"name": "Customer first name", "ticket_number": "Ticket number", "ticket_subject": "Subject",
                "excerpt": "Start of the reply", "ticket_url": "Portal link to the ticket"},
               {"name": "Ada", "ticket_number": "482913", "ticket_subject": "Cannot reach my VPS",
                "excerpt": "We restarted the hypervisor; your VPS is reachable again.",
                "ticket_url": "https://billing.example.com/support/tickets/17/"},
               essential=False, category="support"),
    ]
}  # fmt: skip

# Staff alerts (Discord). The name is the alert's event; discord_channel picks the webhook.
STAFF_ALERTS: dict[str, Event] = {
    e.name: e
    for e in [
        Event("new_order", "New order", DISCORD, discord_channel="billing"),
        Event("high_value_order", "High-value order or payment", DISCORD, discord_channel="billing"),
        Event("failed_payment", "Failed payment", DISCORD, discord_channel="billing"),
        Event("dispute", "Dispute opened", DISCORD, discord_channel="billing"),
        Event("billing_run", "Billing run summary (with failures)", DISCORD, discord_channel="billing"),
        Event("failed_provisioning", "Provisioning failed", DISCORD, discord_channel="provisioning"),
        Event("suspicious_signup", "Suspicious sign-up", DISCORD, discord_channel="security"),
        Event("new_signup", "New customer sign-up", DISCORD, discord_channel="security"),
        Event("failed_staff_login", "Failed staff login / lockout", DISCORD, discord_channel="security"),
        Event("email_bounced", "Customer email address bounced", DISCORD, discord_channel="security"),
        Event("notification_failed", "A customer email could not be delivered", DISCORD, discord_channel="billing"),
    ]
}

# Legacy callers name the event differently from the template; both resolve here.
_BY_TEMPLATE: dict[str, Event] = {}
for _event in EVENTS.values():
    _BY_TEMPLATE.setdefault(_event.template_key, _event)


def email_event(name: str) -> Event | None:
    return EVENTS.get(name)


def event_for_template(template: str) -> Event | None:
    """The catalogue entry whose template this is (None for a template outside the catalogue)."""
    return _BY_TEMPLATE.get(template)


def template_keys() -> list[str]:
    return sorted(_BY_TEMPLATE)


def sample_context(template: str) -> dict:
    event = event_for_template(template)
    return dict(event.sample) if event else {}


def documented_variables(template: str) -> dict[str, str]:
    event = event_for_template(template)
    return {**COMMON_VARIABLES, **(event.variables if event else {})}


# Which Discord channel a staff alert goes to when the caller does not say: the words of
# its dedupe key or title (existing callers predate the routing).
_ROUTE_WORDS = [
    ("security", ("login", "signup", "sign-up", "locked", "lockout", "suspicious", "impersonat", "bounce")),
    ("provisioning", ("provision", "suspend", "terminat", "service", "stock", "platform", "unsuspend")),
    ("billing", ("order", "payment", "invoice", "refund", "dispute", "billing", "paypal", "stripe", "charge")),
]


def discord_channel_for(title: str, dedupe_key: str | None = None) -> str:
    text = f"{dedupe_key or ''} {title}".lower()
    for channel, words in _ROUTE_WORDS:
        if any(word in text for word in words):
            return channel
    return "billing"
