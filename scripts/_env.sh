# Sourced by the scripts beside it: find Python 3.11, create .venv and install the project
# (again whenever pyproject.toml changes). Set OFFERFLOW_VENV to use another virtualenv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${OFFERFLOW_VENV:-$ROOT/.venv}"

find_python() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      command -v "$candidate"; return 0
    fi
  done
  echo "OfferFlow needs Python 3.11 (bytewax 0.21.1 has no wheels for other versions)." >&2
  echo "On Debian 12: apt-get install python3 python3-venv" >&2
  return 1
}

# Debian's Chromium for the dashboard's browser test (Playwright drives it; no browser
# download). Installed when missing and root; otherwise that one test is skipped (outside CI).
# ensure_debian COMMAND PACKAGE PURPOSE: install a Debian package some tests need, as root.
ensure_debian() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's $2 for $3 (about a minute) ..."
    local started=$SECONDS
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    echo "$2 installed in $((SECONDS - started)) s"
  else
    echo "$1 is missing (apt-get install $2): $3 will be skipped" >&2
  fi
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtualenv $VENV"
    "$(find_python)" -m venv "$VENV"
  fi
  if [ ! -f "$VENV/.offerflow-installed" ] || [ pyproject.toml -nt "$VENV/.offerflow-installed" ]; then
    echo "installing OfferFlow and its dependencies into $VENV ..."
    # pip warns about every missing local index folder on some machines: keep its output short.
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 |
      { grep -v "^WARNING: Location" || true; }
    touch "$VENV/.offerflow-installed"
  fi
  export PATH="$VENV/bin:$PATH"
}
