#!/usr/bin/env bash
# Property-tests the HTTP API against its own OpenAPI document: Schemathesis generates requests
# for every operation from GET /openapi.json of the real binary (with an admin token, so the
# authenticated paths run too) and checks that no answer is a server error, that every status is
# documented and that every body matches its schema.
#
#   scripts/schemathesis.sh [PURSER_BINARY] [MAX_EXAMPLES]
#
# Installs Schemathesis into target/venv on first use (from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${1:-target/debug/purser}
examples=${2:-40}
version=4.32.5
venv=target/venv

if [ ! -x "$binary" ]; then
  echo "schemathesis: $binary is missing; build it first (cargo build -p purser)" >&2
  exit 1
fi
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  echo "== installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

token="schemathesis-admin-token-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
cat > "$work/purser.toml" <<TOML
listen = "127.0.0.1:0"
data_dir = "$work/data"
durability = "os"

[[tokens]]
name = "schemathesis"
token = "$token"
role = "admin"

[[pool]]
name = "local"
machines = 2
cores = 8

[[accounts]]
path = "acme"
limits = { tokens = 1000000000, cost_micros = 1000000000 }

[[accounts]]
path = "acme/research"
limits = { tokens = 100000000 }

[[accounts]]
path = "acme/research/wf-42"
limits = { tokens = 10000000 }
TOML

"$binary" serve --config "$work/purser.toml" > "$work/server.log" 2>&1 &
server_pid=$!
address=
for _ in $(seq 1 100); do
  address=$(sed -n 's/^purser: listening on \(http:\/\/[0-9.:]*\)$/\1/p' "$work/server.log")
  [ -n "$address" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then cat "$work/server.log" >&2; exit 1; fi
  sleep 0.1
done
if [ -z "$address" ]; then
  echo "schemathesis: the server did not start" >&2
  cat "$work/server.log" >&2
  exit 1
fi

# Something for the examples of path parameters to find: dag_1 with its tasks tsk_1_0 (leased
# by local-0, so RUNNING) and tsk_1_1, and holds on acme/research/wf-42.
seed() {
  curl --silent --show-error --fail-with-body -X "$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' --data "$3" "$address$2" > /dev/null
}
seed POST /v1/dags '{"tenant": "acme/research", "tasks": [{"id": "build", "runtime_ms": 60000}, {"id": "test", "runtime_ms": 60000, "depends_on": ["build"]}]}'
seed POST /v1/workers/local-0:lease '{}'
seed POST /v1/reservations '{"account": "acme/research/wf-42", "amount": {"tokens": 1000}}'

# The event stream never ends on its own: it is generated with the others and answered
# within the request timeout, its first bytes being enough to check its status and type.
cd "$work"
"$OLDPWD/$venv/bin/schemathesis" run "$address/openapi.json" \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance \
  --header "Authorization: Bearer $token" \
  --max-examples "$examples" --seed 42 --workers 1 --generation-database none \
  --phases examples,coverage,fuzzing \
  --request-timeout 2 --output-sanitize false --no-color \
  --max-failures 50
status=$?
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "schemathesis: the server died during the run" >&2
  cat "$work/server.log" >&2
  exit 1
fi
exit $status
