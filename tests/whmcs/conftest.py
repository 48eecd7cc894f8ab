import os

import pytest
from django.conf import settings


def source_name(worker_id: str) -> str:
    base = settings.DATABASES["default"].get("TEST", {}).get("NAME") or "test_ezscale"
    return f"{base}_whmcs_src_{worker_id}"[:64]


@pytest.fixture(scope="module")
def whmcs_source(worker_id):
    """A WHMCS 8.4 database built from the shared schema and filled with a generated history."""
    if not os.environ.get("TEST_DATABASE_URL", "").startswith("mysql"):
        pytest.skip("needs MariaDB/MySQL: set TEST_DATABASE_URL=mysql://…")
    from tests.whmcs.source_db import create_database, drop_database, fill_history, source_url

    name = source_name(worker_id)
    conn = create_database(name)
    history = fill_history(conn)
    yield {"url": source_url(name), "conn": conn, "history": history}
    conn.close()
    drop_database(name)
