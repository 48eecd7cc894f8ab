"""/healthz checks the database, the cache and the queue for real."""

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_is_ok_when_database_cache_and_queue_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "cache": True,
        "queue": True,
    }
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_is_503_when_the_cache_is_broken(client, monkeypatch):
    def broken_set(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr("core.health.cache.set", broken_set)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["cache"]["ok"] is False
    assert "Connection refused" in body["checks"]["cache"]["error"]
    # The other checks still ran and are reported.
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["queue"]["ok"] is True


def test_healthz_is_503_when_the_cache_loses_writes(client, monkeypatch):
    monkeypatch.setattr("core.health.cache.get", lambda *a, **k: None)
    assert client.get("/healthz").status_code == 503


def test_healthz_is_503_when_the_broker_does_not_answer(client, monkeypatch):
    class SilentBroker:
        def ping(self):
            return False

    monkeypatch.setattr("django_q.brokers.get_broker", lambda *a, **k: SilentBroker())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["queue"]["ok"] is False


def test_healthz_needs_no_login_and_reveals_no_settings(client):
    body = client.get("/healthz").content.decode()
    assert "SECRET" not in body and "password" not in body.lower()
