#!/usr/bin/env bash
# One entry point for set-up, the main job and the tests, on a fresh machine with Python 3.11+.
#   ./dev.sh sweep [convsweep sweep options]   run the main job (default sweep)
#   ./dev.sh test [pytest options]             run the whole test suite
#   ./dev.sh setup                             only create/refresh .venv
#   ./dev.sh <any convsweep command> ...       e.g. ./dev.sh notebook --index 3
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON="${PYTHON:-python3}"
VENV=".venv"
STAMP="$VENV/.installed"

setup() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || { echo "convsweep needs Python >= 3.11 (found $("$PYTHON" --version 2>&1))" >&2; exit 2; }
        "$PYTHON" -m venv "$VENV"
    fi
    # Reinstall only when the dependency list changed.
    if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
        "$VENV/bin/python" -m pip install --quiet -e ".[test]" 2>&1 | grep -v "is ignored" || true
        "$VENV/bin/python" -c "import conv_core, tasks, flows, convsweep" \
            || { echo "dev.sh: installing the project failed" >&2; exit 1; }
        touch "$STAMP"
    fi
}

cmd="${1:-sweep}"
[ $# -gt 0 ] && shift
case "$cmd" in
    setup) setup ;;
    test)
        setup
        # Browser for the Prefect-UI end-to-end tests (Debian's chromium, no browser download).
        if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
                || echo "dev.sh: could not install chromium; the browser tests will fail" >&2
        fi
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    *)
        setup
        exec "$VENV/bin/convsweep" "$cmd" "$@"
        ;;
esac
