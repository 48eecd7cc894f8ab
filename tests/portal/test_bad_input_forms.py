"""Issue 13, for the portal forms added with the self-service portal (ordering, account, support,
notification preferences): every field of every form posted with malformed values (over-long, NUL,
unicode, numbers where text goes and text where numbers go) never gets a server error, and the
values no form may accept (a NUL byte, 5,000 characters) change no row."""

import re

import pytest
from django.urls import reverse

from tests.billing.rowstate import changed, database_state

pytestmark = pytest.mark.django_db

MALFORMED = ["abc", "NaN", "{}", "1e309", "-1", "99999999999999999999999", "ünïcødé 🙂", "' OR 1=1 --", "[]", ""]
NEVER_VALID = ["x" * 5000, "a\x00b"]
FIELD = re.compile(r'<(?:input|select|textarea)[^>]*\sname="([^"]+)"', re.IGNORECASE)
SKIP_FIELDS = {"csrfmiddlewaretoken"}


def _forms_of(client, url):
    body = client.get(url).content.decode()
    return sorted({name for name in FIELD.findall(body) if name not in SKIP_FIELDS})


def _pages(vps_price):
    """(url, logged in?) for each form page."""
    return [
        (reverse("portal:checkout", args=[vps_price.product.slug]), True),
        (reverse("portal:profile"), True),
        (reverse("portal:contacts"), True),
        (reverse("portal:tokens"), True),
        (reverse("portal:ticket_new"), True),
        (reverse("portal:signup"), False),
        (reverse("portal:password_reset"), False),
    ]


def test_new_portal_forms_never_answer_malformed_input_with_a_server_error(shopper_client, shopper, vps_price):
    from django.test import Client

    checked = 0
    for url, logged_in in _pages(vps_price):
        client = shopper_client if logged_in else Client()
        fields = _forms_of(client, url)
        assert fields, f"no form fields found on {url}"
        for value in MALFORMED + NEVER_VALID:
            response = client.post(url, dict.fromkeys(fields, value))
            assert response.status_code < 500, (url, value, response.status_code)
            checked += 1
        before = database_state()
        for value in NEVER_VALID:
            response = client.post(url, dict.fromkeys(fields, value))
            assert response.status_code in (200, 400, 403, 404, 422, 429), (url, response.status_code)
            if response.status_code == 200:
                page = response.content.decode().lower()
                assert "error" in page or "invalid" in page or "ensure" in page or "null" in page, url
        assert changed(before, database_state()) == {}, url
    assert checked >= 60


def test_notification_preferences_ignore_unknown_categories(shopper_client, shopper):
    """A checkbox form: any value means ticked, so malformed input can only name unknown categories,
    which are ignored; never a server error."""
    url = reverse("portal:notification_preferences")
    for value in MALFORMED + NEVER_VALID:
        response = shopper_client.post(url, {value[:100] or "x": "on", "category": value})
        assert response.status_code < 500
