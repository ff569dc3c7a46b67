#!/usr/bin/env bash
# pytest-rec entry point for a fresh machine: sets itself up, then runs what you ask.
#   bash rec.sh compliance [pytest/rec options]   the compliance suite against the built-in simulator -> reports/
#   bash rec.sh test [pytest options]             the project's own tests
#   bash rec.sh sim [rec-sim options]             start the simulator by hand
#   bash rec.sh mutation [--fresh]                mutation score of the suite (mutmut; 40-60 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")"
VENV="${REC_VENV:-.venv}"
# Python's bytecode caches on (a machine may set PYTHONDONTWRITEBYTECODE): without them every run, and
# every run the project's tests start, compiles schemathesis, hypothesis and the suite from source
unset PYTHONDONTWRITEBYTECODE
PY="${PYTHON:-python3}"

setup() {
  local stamp="$VENV/.rec-installed"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "pytest-rec: creating $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "pytest-rec: installing pinned dependencies (requirements.lock)" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
    touch "$stamp"
  fi
  if command -v node >/dev/null 2>&1 && [ -f pytest_rec/report-tools/package-lock.json ] \
      && [ ! -d pytest_rec/report-tools/node_modules ]; then
    echo "pytest-rec: installing the Allure 3 report generator (npm ci, pinned)" >&2
    (cd pytest_rec/report-tools && npm ci --no-audit --no-fund --loglevel=error) || \
      echo "pytest-rec: npm ci failed; the HTML report will be skipped" >&2
  fi
}

setup_mutation() {   # mutmut, for the mutation run and its end-to-end test
  local stamp="$VENV/.rec-mutation-installed"
  if [ ! -f "$stamp" ] || [ requirements-mutation.lock -nt "$stamp" ]; then
    echo "pytest-rec: installing mutmut (requirements-mutation.lock)" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-mutation.lock
    touch "$stamp"
  fi
}

cmd="${1:-help}"; shift || true
case "$cmd" in
  compliance) setup; exec "$VENV/bin/rec-compliance" "$@" ;;
  test)       setup; setup_mutation; exec "$VENV/bin/python" -m pytest tests -n 2 "$@" ;;
  sim)        setup; exec "$VENV/bin/rec-sim" "$@" ;;
  mutation)   setup; setup_mutation
              exec "$VENV/bin/python" benchmarks/mutation.py "$@" ;;
  setup)      setup ;;
  *) sed -n '2,7p' "$0"; exit 2 ;;
esac
