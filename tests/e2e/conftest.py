"""Browser tests: Playwright driving Debian's chromium (never a downloaded browser).

Every test in this folder is marked `browser` and skips with a reason when /usr/bin/chromium
is missing (scripts/test.sh installs it).
"""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
    here = Path(__file__).parent
    for item in items:
        if Path(item.fspath).parent == here:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(skip)


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop; let the Django ORM be used from the test thread
    # (set for this test only: a leaked variable changes other tests' subprocesses).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
