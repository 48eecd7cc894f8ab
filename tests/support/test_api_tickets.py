"""API ticket routes: list, departments, detail, open (about a service), reply; 404 and 503 answers."""

import pytest

from core.support import services as support
from core.support.errors import SupportUnavailable
from integrations.supportpal.sandbox import SandboxSupportBackend
from tests.api.conftest import Api, build_world, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db, settings):
    settings.API_RATE_LIMIT = "100000/m"
    settings.PAYMENT_GATEWAYS = ["sandbox", "manual"]
    return build_world("t")


def test_open_list_read_and_reply(world):
    api = world.api
    departments = api.get("/api/v1/tickets/departments").json()["items"]
    assert [d["name"] for d in departments][:2] == ["Technical support", "Billing"]
    created = api.post("/api/v1/tickets", {"department_id": "1", "subject": "Disk full", "text": "Help please",
                                           "service_id": str(world.service.uuid)},
                       headers={"Idempotency-Key": "t-1"})  # fmt: skip
    assert created.status_code == 201, created.content
    ticket = created.json()
    assert ticket["service_id"] == str(world.service.uuid) and ticket["messages"][0]["text"] == "Help please"
    listed = api.get("/api/v1/tickets").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == ticket["id"]
    assert listed["items"][0]["last_reply_by_staff"] is True
    reply = api.post(f"/api/v1/tickets/{ticket['id']}/replies", {"text": "Any news?"})
    assert reply.status_code == 201 and reply.json()["by_staff"] is False
    detail = api.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert detail["messages"][-1]["text"] == "Any news?"


def test_another_customers_ticket_and_service_are_refused(world):
    other = build_world("u")
    theirs = support.open_ticket(other.customer, department_id="1", subject="Theirs", text="secret")
    assert world.api.get(f"/api/v1/tickets/{theirs.id}").status_code == 404
    assert world.api.post(f"/api/v1/tickets/{theirs.id}/replies", {"text": "x"}).status_code == 404
    assert len(SandboxSupportBackend().messages(theirs.id)) == 2
    refused = world.api.post("/api/v1/tickets", {"department_id": "1", "subject": "s", "text": "t",
                                                 "service_id": str(other.service.uuid)},
                             headers={"Idempotency-Key": "t-2"})  # fmt: skip
    assert refused.status_code == 422 and "service_id" in refused.json()["fields"]


def test_read_scope_cannot_open_tickets(world):
    api = Api(token_for(world.customer, name="read-only", scopes=["read"]))
    response = api.post("/api/v1/tickets", {"department_id": "1", "subject": "s", "text": "t"},
                        headers={"Idempotency-Key": "t-3"})  # fmt: skip
    assert response.status_code == 403


def test_help_desk_down_answers_503_with_retry_after(world, monkeypatch):
    def down(*args, **kwargs):
        raise SupportUnavailable("Our help desk cannot be reached right now.")

    monkeypatch.setattr(SandboxSupportBackend, "list_tickets", down)
    response = world.api.get("/api/v1/tickets")
    assert response.status_code == 503
    assert response.json()["code"] == "support_unavailable" and response["Retry-After"] == "60"
