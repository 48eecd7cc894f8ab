"""The API's per-request costs (issue #8) without weaker security: the token is read from the database on
every request (revocation, expiry and deactivation apply at once), last-used is written at most once a
minute, a list page is two queries, and API requests skip the session and portal middleware."""

import datetime as dt

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core import clock
from core.accounts.models import ApiToken
from core.accounts.services import LAST_USED_RESOLUTION
from tests.api.conftest import Api, token_for

SERVICES = "/api/v1/services"


def test_a_token_revoked_through_the_api_is_refused_on_the_next_request(world):
    doomed_secret = token_for(world.customer, scopes=["read"], name="doomed")
    doomed = Api(doomed_secret)
    assert doomed.get(SERVICES).status_code == 200
    token = ApiToken.objects.get(name="doomed")
    assert world.api.delete(f"/api/v1/tokens/{token.pk}").status_code == 200
    response = doomed.get(SERVICES)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


def test_deactivating_the_user_or_expiring_the_token_refuses_the_next_request(world):
    assert world.api.get(SERVICES).status_code == 200
    ApiToken.objects.filter(pk=world.token.pk).update(expires_at=clock.now() + dt.timedelta(minutes=1))
    assert world.api.get(SERVICES).status_code == 200
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=2)):
        assert world.api.get(SERVICES).status_code == 401
    user = world.customer.user
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert world.api.get(SERVICES).status_code == 401


def test_a_list_page_is_two_queries_and_last_used_is_written_once_a_minute(world):
    world.api.get(SERVICES)  # writes last-used
    world.token.refresh_from_db()
    first_use = world.token.last_used_at
    assert first_use is not None
    with CaptureQueriesContext(connection) as queries:
        response = world.api.get(SERVICES)
    assert response.status_code == 200 and response.json()["count"] == 1
    assert len(queries) == 2, [q["sql"] for q in queries]  # the token, the page with its total
    assert not any(q["sql"].startswith("UPDATE") for q in queries)
    world.token.refresh_from_db()
    assert world.token.last_used_at == first_use

    later = first_use + LAST_USED_RESOLUTION + dt.timedelta(seconds=1)
    with clock.frozen_at(later), CaptureQueriesContext(connection) as queries:
        assert world.api.get(SERVICES).status_code == 200
    assert sum(q["sql"].startswith("UPDATE") for q in queries) == 1
    world.token.refresh_from_db()
    assert world.token.last_used_at == later


def test_api_requests_neither_read_nor_set_the_session(world):
    browser = Client()
    browser.force_login(world.customer.user)  # a portal session does not authenticate the API
    assert Api(None, browser).get(SERVICES).status_code == 401
    response = Api(world.secret, browser).get(SERVICES)
    assert response.status_code == 200
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies
    assert "Content-Security-Policy" not in response


def test_portal_pages_keep_the_session_and_their_security_headers(world):
    browser = Client()
    browser.force_login(world.customer.user)
    page = browser.get(reverse("portal:home"), follow=True)
    assert page.status_code == 200
    assert "Content-Security-Policy" in page
    assert page.wsgi_request.user == world.customer.user  # the session user, not the API's anonymous one
