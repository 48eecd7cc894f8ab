# Shared setup for scripts/demo.sh and scripts/test.sh (sourced, not run).
# Installs the Debian packages the Python requirements need (only the missing ones),
# finds Python 3.12, creates .venv and installs a requirements file when it changed.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# mysqlclient builds against libmariadb (pkg-config finds it); WeasyPrint needs Pango,
# HarfBuzz (and its subsetter) and at least one font to render invoice PDFs.
APT_PACKAGES=(
  build-essential pkg-config python3-dev libmariadb-dev
  libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fontconfig fonts-dejavu-core
)

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mxx\033[0m %s\n' "$*" >&2; exit 1; }

# ensure_apt_packages [extra packages...]: installs APT_PACKAGES plus the extras, only those missing.
ensure_apt_packages() {
  command -v dpkg-query >/dev/null 2>&1 || { log "not a Debian system: skipping apt packages"; return 0; }
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" != "0" ]; then
    command -v sudo >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no sudo to install them"
    sudo="sudo"
  fi
  log "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

find_python() {
  local candidate
  # These machines provide 3.12 through pyenv; elsewhere a python3.12 on PATH is enough.
  for candidate in \
    "env PYENV_VERSION=3.12.1 python3.12" \
    "env PYENV_VERSION=3.12.1 $HOME/.pyenv/shims/python3.12" \
    "$HOME/.pyenv/versions/3.12.1/bin/python3.12" \
    "python3.12"; do
    if $candidate -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  die "Python 3.12 not found (tried pyenv 3.12.1 and python3.12 on PATH)"
}

# ensure_venv <requirements file>: .venv with that file installed; reinstalls only when it changed.
ensure_venv() {
  local requirements="$1" python stamp digest
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    python="$(find_python)"
    log "creating .venv with $($python --version 2>&1)"
    rm -rf .venv
    $python -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
  fi
  stamp=".venv/.installed-$(basename "$requirements")"
  digest="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    log "installing $requirements"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
    echo "$digest" >"$stamp"
  fi
  # shellcheck disable=SC1091
  source .venv/bin/activate
}
