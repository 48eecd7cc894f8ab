#!/usr/bin/env bash
# Local demo from a clean clone: Debian packages, .venv, SQLite, demo data, then the web
# server and a django-q2 worker until Ctrl-C.
#
#   scripts/demo.sh            # http://127.0.0.1:8000
#   DEMO_PORT=8080 scripts/demo.sh
#   scripts/demo.sh --smoke    # start, check /healthz, the admin login and the portal, stop (CI-friendly)
set -euo pipefail
source "$(dirname "$0")/_setup.sh"

SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
PORT="${DEMO_PORT:-8000}"

ensure_apt_packages
ensure_venv requirements.txt

export DJANGO_ENV=development
export DATABASE_URL="${DATABASE_URL:-sqlite:///$ROOT/db.sqlite3}"
export SITE_URL="http://127.0.0.1:$PORT"
# Passkeys need a secure origin; browsers treat http://localhost as one (127.0.0.1 is refused by the check).
export OTP_WEBAUTHN_ALLOWED_ORIGINS="http://localhost:$PORT"

log "migrating ${DATABASE_URL%%\?*}"
python manage.py migrate --noinput -v0
log "loading demo data"
python manage.py seed_demo
# A week of hourly bandwidth from the sandbox flow source, so the usage charts have data.
python manage.py collect_bandwidth --demo-history 7 >/dev/null
python manage.py setup_schedules -v0 >/dev/null

# Each child runs in its own process group (setsid), so stopping reaches qcluster's worker
# processes too; background jobs of a script ignore SIGINT, hence SIGTERM.
pids=()
signal_all() { local pid; for pid in "${pids[@]}"; do kill "-$1" -- "-$pid" 2>/dev/null || true; done; }
stop() {
  trap - INT TERM EXIT
  [ ${#pids[@]} -eq 0 ] && return
  log "stopping web server and worker"
  signal_all TERM
  # qcluster may keep running after SIGTERM (reference/django-stack.md §5): 10 s, then SIGKILL.
  for _ in $(seq 1 20); do
    kill -0 "${pids[@]}" 2>/dev/null || break
    sleep 0.5
  done
  signal_all KILL
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

log "starting web server on 127.0.0.1:$PORT and the django-q2 worker"
setsid python manage.py runserver "127.0.0.1:$PORT" --noreload &
pids+=($!)
setsid python manage.py qcluster &
pids+=($!)

healthy=0
for _ in $(seq 1 60); do
  if python - "$PORT" <<'PY' 2>/dev/null; then healthy=1; break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=2)
PY
  sleep 1
done
[ $healthy -eq 1 ] || die "the web server did not answer /healthz within 60 s"

ADMIN_PATH="$(printf '%s' "${ADMIN_PATH:-admin}" | sed 's#^/*##; s#/*$#/#')"
cat <<INFO

  EZSCALE back office demo is running.

  Staff admin      http://127.0.0.1:$PORT/$ADMIN_PATH
                   admin@ezscale.localhost / ezscale-demo-admin
                   2FA code now: $(python manage.py demo_totp 2>/dev/null)   (fresh one: .venv/bin/python manage.py demo_totp)
                   or a backup code: demo-backup-1 … demo-backup-5
  Customer portal  http://127.0.0.1:$PORT/
                   customer@ezscale.localhost / ezscale-demo-customer
  Health           http://127.0.0.1:$PORT/healthz

  Press Ctrl-C to stop.
INFO

if [ $SMOKE -eq 1 ]; then
  python - "$PORT" "$ADMIN_PATH" <<'PY'
import sys, urllib.request
port, admin = sys.argv[1], sys.argv[2]
for path in ("healthz", "account/login/", ""):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=10) as response:
        assert response.status == 200, (path, response.status)
        print(f"  ok /{path} -> {response.status}")
PY
  exit 0
fi
wait -n "${pids[@]}"
die "the web server or the worker stopped"
