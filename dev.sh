#!/usr/bin/env bash
# One entry point for set-up, the main job and the tests, on a fresh machine with Python 3.11+.
#   ./dev.sh sweep [convsweep sweep options]   run the main job (default sweep)
#   ./dev.sh test [pytest options]             ruff (lint + format check), mkdocs build --strict, mypy, then the whole test suite
#   ./dev.sh docs [serve|build] [options]      the documentation site (default: serve on http://127.0.0.1:8000)
#   ./dev.sh test -m "not e2e"                 the inner loop: everything but the end-to-end tests
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
        if [ -f "$STAMP" ]; then
            echo "dev.sh: pyproject.toml changed: updating .venv (usually under a minute)" >&2
        else
            echo "dev.sh: first run: creating .venv with convsweep and its dependencies (2-3 minutes; once)" >&2
        fi
        # PYTHONWARNINGS=ignore: setuptools' build backend prints a "!!" block about editable installs.
        PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
        PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install --quiet -e ".[test]" 2>&1 | grep -v "is ignored" || true
        "$VENV/bin/python" -c "import convsweep.conv_core, convsweep.tasks, convsweep.flows, convsweep.cli" \
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
        # Debian packages of the end-to-end tests, installed where missing when we are root:
        # chromium for the Prefect-UI tests (no browser download), postgresql-15 for the
        # PostgreSQL-backed server test (tests/e2e/test_postgres.py; it starts its own cluster).
        missing=()
        [ -x /usr/bin/chromium ] || missing+=(chromium)
        [ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
        if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
                # Only the binaries: no default cluster (a server on port 5432) from the package.
                mkdir -p /etc/postgresql-common/createcluster.d
                echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/convsweep-no-main.conf
            fi
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
                || echo "dev.sh: could not install ${missing[*]}; the tests that need them will fail" >&2
        fi
        # Lint and format first: seconds, and a style slip fails as loudly as a test.
        "$VENV/bin/ruff" check --quiet . || { echo "dev.sh: ruff check failed (ruff check --fix . mends most)" >&2; exit 1; }
        "$VENV/bin/ruff" format --check --quiet . || { echo "dev.sh: ruff format --check failed (run: .venv/bin/ruff format .)" >&2; exit 1; }
        # The documentation site must build without a warning (broken links and anchors, bad docstrings).
        # Not --quiet: mkdocs 1.6 then no longer counts warnings, and --strict passes a broken link.
        docs_site="$(mktemp -d)"
        if ! docs_log="$(NO_MKDOCS_2_WARNING=1 "$VENV/bin/mkdocs" build --strict --site-dir "$docs_site" 2>&1)"; then
            rm -rf "$docs_site"
            printf '%s\n' "$docs_log" | grep -E "WARNING|ERROR|Error|Aborted" >&2 || printf '%s\n' "$docs_log" >&2
            echo "dev.sh: mkdocs build --strict failed (run: .venv/bin/mkdocs build --strict)" >&2
            exit 1
        fi
        rm -rf "$docs_site"
        # Types: strict for conv_core and convsweep.tasks.model, standard elsewhere (pyproject.toml [tool.mypy]).
        "$VENV/bin/mypy" || { echo "dev.sh: mypy found type errors (run: .venv/bin/mypy)" >&2; exit 1; }
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    docs)
        setup
        # NO_MKDOCS_2_WARNING: mkdocs-material 9.7+ prints an end-of-life banner on every build
        # (material/templates/__init__.py); this variable is its documented off switch.
        action="${1:-serve}"
        [ $# -gt 0 ] && shift
        NO_MKDOCS_2_WARNING=1 exec "$VENV/bin/mkdocs" "$action" "$@"
        ;;
    *)
        setup
        exec "$VENV/bin/convsweep" "$cmd" "$@"
        ;;
esac
