#!/usr/bin/env bash
# Every test of Purser, as CI runs them (after `cargo fmt --check` and `cargo clippy`):
#   1. the Rust tests of the workspace (unit, property, simulation, store conformance, the real
#      binary over HTTP, the SIGKILL crash test);
#   2. Schemathesis against the real binary's OpenAPI document (installs itself into
#      target/venv from PyPI on first use);
#   3. the monitoring pack: the rules that `purser monitoring render` writes, checked and unit-
#      tested by promtool, the PrometheusRule against its CRD, the Grafana board's queries;
#   4. the Kubernetes manifests `purser k8s render` writes, checked by kubernetes-validate
#      --strict, against the CRDs in ../shared/data/k8s-crds and by promtool;
#      the dashboard in headless Chromium over WebDriver (screenshots in target/screenshots);
#   5. the Python client (clients/python): pytest against the binary (the debug build the
#      checks above use: CI builds no release binary), the examples, the OpenAI wrapper against
#      a local stub, and mypy --strict;
#   6. the fuzz targets, 60 s each (FUZZ_SECONDS to change it).
# Python packages install into target/venv-tests from PyPI on first use; promtool, chromium and
# chromedriver come from Debian's prometheus, chromium and chromium-driver (.ci/run installs
# them).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test --workspace"
cargo test --workspace

echo "== schemathesis"
cargo build --quiet -p purser
scripts/schemathesis.sh target/debug/purser "${SCHEMATHESIS_EXAMPLES:-100}"

echo "== python packages of the checks below"
venv=target/venv-tests
if ! "$venv/bin/python" -c "import selenium, yaml, jsonschema, kubernetes_validate" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "selenium==4.51.0" "pyyaml==6.0.4" "jsonschema==4.26.0" "kubernetes-validate==1.37.0"
fi

echo "== monitoring pack"
rm -rf target/monitoring
# The rules' unit tests are written for a lead time of an hour.
target/debug/purser monitoring render --out target/monitoring --lead-time 1h
"$venv/bin/python" scripts/monitoring-check.py target/monitoring

echo "== kubernetes manifests"
rm -rf target/k8s
for environment in production testing; do
  target/debug/purser k8s render --environment "$environment" --out "target/k8s/$environment"
done
"$venv/bin/python" scripts/k8s-check.py target/k8s

echo "== the dashboard in a browser"
"$venv/bin/python" tests/browser/dashboard_test.py target/debug/purser

echo "== the Python client against the binary (pytest, mypy --strict)"
client_venv=target/venv-client
if ! "$client_venv/bin/python" -c "import purser_client, pytest, mypy, openai" 2>/dev/null; then
  python3 -m venv "$client_venv"
  "$client_venv/bin/pip" install --quiet --disable-pip-version-check -e "clients/python[dev]"
fi
(cd clients/python && PURSER_BINARY="$PWD/../../target/debug/purser" \
  "../../$client_venv/bin/python" -m pytest -q -p no:cacheprovider)
(cd clients/python && "../../$client_venv/bin/python" -m mypy --strict --cache-dir=/dev/null purser_client)

echo "== fuzzing"
scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
