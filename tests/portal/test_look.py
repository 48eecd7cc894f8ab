"""The portal's look and feel holds together: one component set, one money and date format per locale,
templates that a strict CSP can serve, the impersonation banner, disabled actions that say why."""

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from portal.templatetags.portal_ui import local_date, local_datetime, money, status_tone

TEMPLATES = Path(__file__).resolve().parents[2] / "portal" / "templates" / "portal"


@pytest.mark.django_db
def test_money_has_one_format_per_locale():
    assert money(Decimal("1234.5"), "USD") == "$1,234.50"
    assert money(Decimal("500"), "JPY") == "¥500"
    with translation.override("de"):
        assert money(Decimal("1234.5"), "EUR") == "1.234,50\xa0€"
    assert money(None, "USD") == "—"


def test_dates_have_one_format_per_locale():
    day = dt.date(2026, 12, 6)
    assert local_date(day) == "Dec 6, 2026"
    assert local_datetime(dt.datetime(2026, 12, 6, 17, 5, tzinfo=dt.UTC)) == "Dec 6, 2026, 5:05\u202fPM"
    with translation.override("de"):
        assert local_date(day) == "06.12.2026"
    assert local_date(None) == "—"


def test_status_badges_are_coloured_by_meaning():
    assert [status_tone(s) for s in ("active", "paid", "pending", "suspended", "weird")] == [
        "success", "success", "warning", "danger", "neutral"
    ]  # fmt: skip


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_need_nothing_the_csp_forbids(path):
    """No inline style attributes or event handlers (the CSP blocks them: use classes and data-confirm),
    no inline <script>/<style> without the request's nonce, nothing from a CDN but Stripe.js."""
    text = path.read_text()
    assert not re.search(r"\sstyle=", text), "inline style attribute: use a class from portal/static/portal/portal.css"
    assert not re.search(r"\son[a-z]+=", text), "inline event handler: use data-confirm / portal.js"
    for tag in re.findall(r"<script\b[^>]*>", text):
        assert "src=" in tag or "nonce=" in tag or 'type="application/json"' in tag, tag
    for tag in re.findall(r"<style\b[^>]*>", text):
        assert "nonce=" in tag, tag
    for url in re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", text):
        assert url.startswith("https://js.stripe.com/"), f"external asset {url}: serve it from portal/static"


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_format_money_and_dates_one_way(path):
    """Dates through |local_date / |local_datetime and amounts through |money (babel, per locale)."""
    text = path.read_text()
    assert not re.search(r"\|date:", text), "use |local_date or |local_datetime from portal_ui"
    assert not re.search(r"currency(?:_id)? \}\} \{\{", text), "use {{ amount|money:currency }}"


def test_disabled_action_shows_the_reason():
    html = render_to_string(
        "portal/components/confirm_button.html",
        {"action": "/x/", "label": "Restart", "reason": "The server is suspended: pay the overdue invoice first."},
    )
    assert re.search(r"<button[^>]*disabled", html)
    assert "The server is suspended: pay the overdue invoice first." in html
    allowed = render_to_string(
        "portal/components/confirm_button.html", {"action": "/x/", "label": "Restart", "confirm": "Restart now?"}
    )
    assert 'data-confirm="Restart now?"' in allowed and "disabled" not in allowed


@pytest.mark.django_db
def test_pages_use_the_shared_layout_and_local_assets(customer_client):
    for name in ("portal:home", "portal:invoice_list", "portal:service_list", "portal:profile", "portal:tokens"):
        html = customer_client.get(reverse(name)).content.decode()
        assert '<link rel="stylesheet" href="/static/portal/portal.css">' in html, name
        assert "data-menu-toggle" in html and 'aria-current="page"' in html, name
    empty = customer_client.get(reverse("portal:invoice_list")).content.decode()
    assert "No invoices yet" in empty and 'class="empty"' in empty


@pytest.mark.django_db
def test_static_files_are_served_by_this_site(client):
    from django.contrib.staticfiles import finders

    assert finders.find("portal/portal.css") and finders.find("portal/portal.js")


@pytest.mark.django_db
def test_impersonating_staff_see_a_banner_with_the_way_back(staff_client, customer):
    response = staff_client.post(
        reverse("hijack:acquire"), {"user_pk": customer.user.pk, "reason": "Ticket 4411: invoice question", "next": "/"}
    )
    assert response.status_code == 302
    html = staff_client.get(reverse("portal:home")).content.decode()
    assert f"You are viewing as {customer.user.email}" in html
    assert f'action="{reverse("hijack:release")}"' in html
    assert "Please confirm" not in html  # the customer's own reminders are not the staff member's business
