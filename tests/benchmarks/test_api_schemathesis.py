"""The long Schemathesis run (issue #8): the same checks as tests/api/test_schemathesis.py with many
more examples per operation. Not in the default run:

    SCHEMATHESIS_EXAMPLES=100 pytest tests/benchmarks/test_api_schemathesis.py -o addopts="" -s

Add TEST_DATABASE_URL/TEST_DATABASE_NAME/REDIS_URL to run it on MariaDB and Redis.
"""

import os

import pytest

from tests.api.conftest import api_settings  # noqa: F401  (the API tests' settings fixture)
from tests.api.test_schemathesis import run_schemathesis

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "100"))

pytestmark = [pytest.mark.benchmark, pytest.mark.django_db(transaction=True)]


def test_long_schemathesis_run_finds_no_server_errors_or_schema_violations(live_server, api_settings):  # noqa: F811
    failures = run_schemathesis(live_server, EXAMPLES)
    assert not failures, "\n\n".join(failures)
