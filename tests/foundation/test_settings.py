"""Settings follow the environment: each test starts a fresh interpreter, because settings are read at import."""

import json

import pytest

from tests.foundation.subprocess_env import production_env, run_python

DUMP = (
    "import json, core.settings as s; print(json.dumps({'db': s.DATABASES['default'], 'caches': s.CACHES, "
    "'q': s.Q_CLUSTER, 'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, 'email': s.EMAIL_BACKEND}, default=str))"
)


def _settings(env):
    result = run_python(env, "-c", DUMP)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mysql_database_url_selects_mysql_with_utf8mb4_and_strict_mode():
    values = _settings({"DJANGO_ENV": "development", "DATABASE_URL": "mysql://bo:pw@db.internal:3306/bo"})
    db = values["db"]
    assert db["ENGINE"] == "django.db.backends.mysql"
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == ("db.internal", 3306, "bo", "bo")
    assert db["OPTIONS"]["charset"] == "utf8mb4"
    assert "STRICT_TRANS_TABLES" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["isolation_level"] == "read committed"
    assert db["TEST"]["CHARSET"] == "utf8mb4"
    assert db["ATOMIC_REQUESTS"] is False


def test_without_database_url_development_uses_sqlite():
    values = _settings({"DJANGO_ENV": "development"})
    assert values["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert values["caches"]["default"]["BACKEND"].endswith("LocMemCache")
    assert values["q"]["orm"] == "default" and "django_redis" not in values["q"]


def test_redis_url_selects_django_redis_cache_and_q2_redis_broker():
    values = _settings({"DJANGO_ENV": "development", "REDIS_URL": "redis://cache.internal:6379/3"})
    cache = values["caches"]["default"]
    assert cache["BACKEND"] == "django_redis.cache.RedisCache"
    assert cache["LOCATION"] == "redis://cache.internal:6379/3"
    assert values["q"]["django_redis"] == "default"
    assert "orm" not in values["q"]


def test_production_defaults_are_safe(tmp_path):
    values = _settings(production_env(tmp_path))
    assert values["debug"] is False
    assert values["hosts"] == ["billing.example.com"]
    assert values["email"] == "anymail.backends.mailgun.EmailBackend"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "FIELD_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_required_variable(tmp_path, missing):
    env = production_env(tmp_path)
    del env[missing]
    result = run_python(env, "-c", "import core.settings")
    assert result.returncode != 0
    assert missing in result.stderr
