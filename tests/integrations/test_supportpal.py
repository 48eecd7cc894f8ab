"""SupportPal client and backend against recorded-shape responses (tests/support/payloads)."""

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import respx

from core.support.backend import SupportUser
from core.support.errors import SupportError, SupportUnavailable, TicketNotFound
from integrations.supportpal.backend import SupportPalBackend
from integrations.supportpal.client import SupportPalClient

PAYLOADS = Path(__file__).resolve().parents[1] / "support" / "payloads"
BASE = "https://help.ezscale.net"
API = BASE + "/api"
TOKEN = "sp_tok_3f9c2a"


def load(name):
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture
def backend(settings):
    settings.SUPPORTPAL = {"BASE_URL": BASE, "API_TOKEN": TOKEN, "BRAND_ID": 1, "SERVICE_CUSTOM_FIELD_ID": "4",
                           "SIMPLEAUTH_KEY": "simple-key", "TIMEOUT": 5}  # fmt: skip
    client = SupportPalClient(BASE, TOKEN, sleep=lambda s: None)
    return SupportPalBackend(client)


@respx.mock
def test_token_is_sent_as_basic_auth_with_x_password(backend):
    route = respx.get(f"{API}/user/user").mock(return_value=httpx.Response(200, json=load("user_search_found.json")))
    user = backend.find_user_by_email("Ada@Example.com")
    assert user == SupportUser(id="118", email="ada@example.com", firstname="Ada", lastname="Lovelace")
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{TOKEN}:X".encode()).decode()
    assert request.url.params["email"] == "Ada@Example.com"


@respx.mock
def test_user_search_ignoring_the_filter_never_links_a_stranger(backend):
    other = load("user_search_found.json")
    other["data"][0]["email"] = "someone.else@example.com"
    respx.get(f"{API}/user/user").mock(return_value=httpx.Response(200, json=other))
    assert backend.find_user_by_email("ada@example.com") is None


@respx.mock
def test_create_user_posts_names_email_and_brand(backend):
    route = respx.post(f"{API}/user/user").mock(return_value=httpx.Response(200, json=load("user_created.json")))
    user = backend.create_user(email="grace@example.com", firstname="Grace", lastname="Hopper")
    assert user.id == "119"
    assert json.loads(route.calls.last.request.content) == {
        "email": "grace@example.com", "firstname": "Grace", "lastname": "Hopper", "brand_id": 1,
    }  # fmt: skip


@respx.mock
def test_tickets_are_paged_and_filtered_to_the_user(backend):
    route = respx.get(f"{API}/ticket/ticket").mock(
        side_effect=[httpx.Response(200, json=load("tickets_page1.json")),
                     httpx.Response(200, json=load("tickets_page2.json"))]
    )  # fmt: skip
    tickets = backend.list_tickets("118")
    assert [c.request.url.params["start"] for c in route.calls] == ["1", "51"]
    assert route.calls[0].request.url.params["user"] == "118"
    assert len(tickets) == 51  # the other user's ticket on page 2 is dropped
    assert all(t.user_id == "118" for t in tickets)
    first, closed = tickets[0], tickets[-1]
    assert (first.number, first.status, first.department, first.priority) == (
        "481000",
        "Open",
        "Technical support",
        "Medium",
    )
    assert first.last_reply_by_staff is True and first.last_reply_at.year == 2025
    assert closed.is_closed and closed.status == "Closed"


@respx.mock
def test_thread_shows_only_public_messages(backend):
    route = respx.get(f"{API}/ticket/message").mock(return_value=httpx.Response(200, json=load("messages.json")))
    thread = backend.messages("1000")
    assert route.calls.last.request.url.params["ticket_id"] == "1000"
    assert [m.id for m in thread] == ["9001", "9004"]  # no internal note, no draft
    assert [m.by_staff for m in thread] == [False, True]
    assert thread[1].author == "Sam Operator"
    assert not any("hv-04" in m.text for m in thread)


@respx.mock
def test_ticket_service_custom_field_is_read(backend):
    respx.get(f"{API}/ticket/ticket/1000").mock(return_value=httpx.Response(200, json=load("ticket.json")))
    assert backend.get_ticket("1000").service_ref == "SERVICE_PK"


@respx.mock
def test_create_ticket_sends_department_brand_and_service_custom_field(backend):
    route = respx.post(f"{API}/ticket/ticket").mock(return_value=httpx.Response(200, json=load("ticket_created.json")))
    ticket = backend.create_ticket(user_id="118", department_id="1", subject="New disk please", text="Hello",
                                   service_ref="42", ip="203.0.113.7")  # fmt: skip
    assert ticket.id == "1100"
    assert json.loads(route.calls.last.request.content) == {
        "user": 118, "department": 1, "subject": "New disk please", "text": "Hello", "brand": 1,
        "send_user_email": True, "user_ip_address": "203.0.113.7", "customfield": {"4": "42"},
    }  # fmt: skip


@respx.mock
def test_reply_posts_a_public_message(backend):
    route = respx.post(f"{API}/ticket/message").mock(
        return_value=httpx.Response(200, json=load("message_created.json"))
    )
    message = backend.reply("1000", user_id="118", text="Thanks!")
    assert message.id == "9010" and not message.by_staff
    assert json.loads(route.calls.last.request.content) == {"ticket_id": 1000, "user_id": 118, "message_type": 0,
                                                            "text": "Thanks!"}  # fmt: skip


@respx.mock
def test_departments_hide_non_public_ones(backend):
    respx.get(f"{API}/ticket/department").mock(return_value=httpx.Response(200, json=load("departments.json")))
    assert [d.name for d in backend.departments()] == ["Technical support", "Billing"]


@respx.mock
@pytest.mark.parametrize(
    ("status", "payload", "error"),
    [
        (401, "error_401.json", SupportUnavailable),
        (404, "error_404.json", TicketNotFound),
        (422, "error_422.json", SupportError),
        (503, None, SupportUnavailable),
    ],
)
def test_error_answers_map_to_domain_errors(backend, status, payload, error):
    body = load(payload) if payload else {"raw": "<html>Service Unavailable</html>"}
    respx.get(f"{API}/ticket/ticket/1").mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(error):
        backend.get_ticket("1")


@respx.mock
def test_timeout_is_reported_as_unavailable(backend):
    respx.get(f"{API}/ticket/ticket/1").mock(side_effect=httpx.ConnectTimeout("timed out"))
    with pytest.raises(SupportUnavailable, match="cannot be reached"):
        backend.get_ticket("1")


@respx.mock
def test_status_error_body_with_200_is_an_error(backend):
    body = {"status": "error", "message": "Invalid department.", "data": None}
    respx.post(f"{API}/ticket/ticket").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(SupportError, match="Invalid department"):
        backend.create_ticket(user_id="118", department_id="9", subject="s", text="t")


def test_sso_link_is_a_signed_simpleauth_jwt(backend):
    url = backend.sso_url(SupportUser(id="118", email="ada@example.com", firstname="Ada", lastname="Lovelace"))
    parsed = urlparse(url)
    assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == f"{BASE}/simpleauth/login"
    token = parse_qs(parsed.query)["token"][0]
    header, body, signature = token.split(".")
    expected = hmac.new(b"simple-key", f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(signature + "==") == expected
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    assert claims["email"] == "ada@example.com" and claims["exp"] - claims["iat"] == 300


@respx.mock
def test_an_answer_we_cannot_read_is_reported_as_unavailable(backend):
    respx.get(f"{API}/ticket/ticket/1").mock(return_value=httpx.Response(200, json={"status": "success", "data": {}}))
    with pytest.raises(SupportUnavailable, match="could not read"):
        backend.get_ticket("1")
