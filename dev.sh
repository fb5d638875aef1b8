#!/usr/bin/env bash
# Phoenix's one developer script. On a fresh Debian/Ubuntu machine each command installs what is
# missing (Debian packages with apt, then the project into .venv with pip) before it runs.
#
#   ./dev.sh demo    set up, then run the demo: one experiment end to end on the embedded SQLite default
#   ./dev.sh test    set up, then run every quality gate and the whole test suite (the first run
#                    on a machine also builds the OpenTelemetry Collector: ~10 min, once)
#   ./dev.sh setup   only set up
#   ./dev.sh lint    only the quality gates (ruff, mypy, import-linter)
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY=$VENV/bin/python
# Server binaries the tests and the demo start as plain processes (none runs as a service).
APT_PACKAGES=(postgresql prometheus prometheus-pushgateway prometheus-node-exporter stress-ng chromium)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; exit 1; fi
}

system_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

python_env() {
  if [ ! -x "$PY" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
  fi
  # Reinstall only when pyproject.toml changed since the last install.
  local stamp=$VENV/.phoenix-installed want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing Phoenix and its dependencies into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$PY" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
    echo "$want" >"$stamp"
  fi
}

# The OpenTelemetry Collector the otelcol tests run: built from deploy/otelcol/builder-config.yaml
# with Go into a cache outside the repository, once per manifest (~10 min and ~1.5 GB of Go
# modules on a machine that never built it; seconds after that).
collector() {
  if ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
    say "installing Go from Debian (to build the OpenTelemetry Collector)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      golang-go ca-certificates git >/dev/null
  fi
  say "the OpenTelemetry Collector for the tests (built once, then reused)"
  deploy/otelcol/build.sh >/dev/null
}

setup() { system_packages; python_env; }

lint() {
  say "ruff (lint and format)"
  "$VENV/bin/ruff" check .
  "$VENV/bin/ruff" format --check .
  say "mypy"
  "$VENV/bin/mypy" phoenix_core api/phoenix_api agent/phoenix_agent dashboards/phoenix_dashboards
  say "import-linter (layering)"
  "$VENV/bin/lint-imports" --no-cache
}

case "${1:-}" in
  setup) setup ;;
  lint) setup; lint ;;
  test)
    setup
    lint
    collector
    say "pytest"
    # Two workers, each test file whole on one: most of the e2e time is waiting on scrapes and
    # experiments, so the two overlap; PHOENIX_TEST_WORKERS=0 runs in one process.
    "$VENV/bin/pytest" -n "${PHOENIX_TEST_WORKERS:-2}" --dist loadfile "${@:2}"
    ;;
  demo)
    setup
    say "running a demo experiment end to end (Prometheus, the API, an agent; about 1.5 min)"
    exec "$VENV/bin/phoenix" demo "${@:2}"
    ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
