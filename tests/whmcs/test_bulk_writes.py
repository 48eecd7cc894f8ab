"""integrations/whmcs/bulk.py writes rows as SQL literals; fields of ours prepare their own values.

An encrypted field is a TextField subclass: the fast path for text columns would store it in the
clear. These run on MariaDB (elsewhere insert_rows is the ORM writer, tested with the importer).
"""

import pytest
from django.db import connection

from core.provisioning.models import PlatformConnection
from integrations.whmcs import bulk

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db]


def test_insert_rows_encrypts_encrypted_fields_and_sync_range_reads_them_back():
    rows = {
        7001: {"name": "Imported VirtFusion", "platform": "virtfusion", "base_url": "https://vf.example.net",
               "api_key": "secret-key-7001"},
        7002: {"name": "Imported Pterodactyl", "platform": "pterodactyl", "base_url": "https://panel.example.net",
               "api_key": "secret-key-7002"},
    }  # fmt: skip
    result = bulk.sync_range(PlatformConnection, rows, 7001, 7002, key="id")
    assert result.created == 2 and set(result.pks) == {7001, 7002}
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM provisioning_platformconnection WHERE id IN (7001, 7002)")
        raw = [r[0] for r in cursor.fetchall()]
    assert raw and all(value.startswith("fernet:") and "secret-key" not in value for value in raw)
    assert PlatformConnection.objects.get(pk=7001).api_key == "secret-key-7001"

    again = bulk.sync_range(PlatformConnection, rows, 7001, 7002, key="id")  # equal rows: nothing written
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
