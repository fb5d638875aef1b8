#!/usr/bin/env bash
# Install phoenix-agent on a host: a venv with the agent alone (no server packages), the
# systemd unit, an environment file, the service user; then enable and start the service.
#
#   sudo deploy/install-agent.sh --api-url http://phoenix:8000 --enrolment-token phx_e_...
#
# Options (defaults in brackets):
#   --source PATH_OR_SPEC   what pip installs [the project folder this script is in]
#   --prefix DIR            the agent's venv [/opt/phoenix-agent]
#   --unit-dir DIR          where the unit goes [/etc/systemd/system]
#   --env-file FILE         the service's environment [/etc/phoenix-agent/agent.env]
#   --api-url URL           written into the environment file (when it is created)
#   --enrolment-token TOK   written into the environment file (when it is created)
#   --no-user               do not create the phoenix-agent system user
#   --no-start              do not enable and start the service
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
source_spec="$(dirname "$here")"
prefix=/opt/phoenix-agent
unit_dir=/etc/systemd/system
env_file=/etc/phoenix-agent/agent.env
api_url=""
enrolment_token=""
make_user=1
start=1

while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_spec="$2"; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --unit-dir) unit_dir="$2"; shift 2 ;;
    --env-file) env_file="$2"; shift 2 ;;
    --api-url) api_url="$2"; shift 2 ;;
    --enrolment-token) enrolment_token="$2"; shift 2 ;;
    --no-user) make_user=0; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-agent.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '==> %s\n' "$*" >&2; }

say "installing phoenix-agent into $prefix"
python3 -m venv "$prefix"
"$prefix/bin/pip" install --quiet --disable-pip-version-check "$source_spec"

say "writing $unit_dir/phoenix-agent.service"
mkdir -p "$unit_dir"
sed "s|/opt/phoenix-agent/bin/phoenix-agent|$prefix/bin/phoenix-agent|" \
  "$here/systemd/phoenix-agent.service" >"$unit_dir/phoenix-agent.service"

if [ ! -e "$env_file" ]; then
  say "writing $env_file (mode 0600)"
  mkdir -p "$(dirname "$env_file")"
  umask 077
  {
    echo "PHOENIX_AGENT_API_URL=${api_url:-http://127.0.0.1:8000}"
    if [ -n "$enrolment_token" ]; then echo "PHOENIX_AGENT_ENROLMENT_TOKEN=$enrolment_token"; fi
  } >"$env_file"
fi

if [ "$make_user" = 1 ] && ! id phoenix-agent >/dev/null 2>&1; then
  say "creating the system user phoenix-agent"
  useradd --system --home-dir /var/lib/phoenix-agent --shell /usr/sbin/nologin phoenix-agent
fi

if [ "$start" = 1 ]; then
  say "enabling and starting phoenix-agent"
  systemctl daemon-reload
  systemctl enable --now phoenix-agent.service
fi
say "done: $prefix/bin/phoenix-agent, $unit_dir/phoenix-agent.service"
