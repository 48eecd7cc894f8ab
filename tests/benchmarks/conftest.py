import os

import pytest

from tests.benchmarks.scale_data import _load, bench_scale, drop_seeded, ensure_seeded


@pytest.fixture(scope="module")
def scale_db(request, django_db_setup, django_db_blocker):
    """The shared issue-10 data set (scale_data.bench_scale), committed outside the tests' transactions.

    With --reuse-db the data stays in the test database for the next run (which then starts measuring
    at once); otherwise, or with BENCH_DROP=1, the big tables are truncated at the end."""
    scale = bench_scale()
    with django_db_blocker.unblock():
        print(f"\ndata set {scale} (load {_load()})")
        ensure_seeded(**scale)
    yield scale
    if os.environ.get("BENCH_DROP") == "1" or not request.config.getoption("reuse_db", False):
        with django_db_blocker.unblock():
            drop_seeded()
