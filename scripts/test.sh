#!/usr/bin/env bash
# Run the test suite: same setup as the demo (Debian packages, .venv, requirements-dev),
# then pytest with any extra arguments passed through.
#
#   scripts/test.sh                       # SQLite, local-memory cache, ORM broker
#   scripts/test.sh tests/billing -x      # a subset
#   TEST_DATABASE_URL=mysql://bo:bo@127.0.0.1:3306/bo REDIS_URL=redis://127.0.0.1:6379/0 scripts/test.sh
#
# PYTEST_WORKERS=auto (default) runs in parallel with pytest-xdist; PYTEST_WORKERS=0 runs serially.
set -euo pipefail
source "$(dirname "$0")/_setup.sh"

# Browser tests (tests/e2e) drive Debian's chromium through Playwright; never a downloaded browser.
# SKIP_BROWSER_INSTALL=1 skips installing it (those tests then skip with a reason).
if [ "${SKIP_BROWSER_INSTALL:-0}" = "1" ]; then
  ensure_apt_packages
else
  ensure_apt_packages chromium
fi
ensure_venv requirements-dev.txt

workers="${PYTEST_WORKERS:-auto}"
args=()
if [ "$workers" != "0" ]; then
  args+=(-n "$workers")
fi
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  log "database: ${TEST_DATABASE_URL%%://*}://…@${TEST_DATABASE_URL##*@}"
else
  log "database: SQLite (in memory)"
fi
[ -n "${REDIS_URL:-}" ] && log "cache and queue broker: Redis ${REDIS_URL##*@}"
exec python -m pytest "${args[@]}" "$@"
