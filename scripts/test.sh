#!/usr/bin/env bash
# The project's one test command: installs and starts what the tests need, then runs every
# test of the workspace (unit, integration and doc-tests) with all features on.
#
#   ./scripts/test.sh            # everything
#   ./scripts/test.sh -p mlops-core   # extra arguments go to `cargo test`
#
# Needs: a Rust toolchain and Python 3 with pip (the S3 emulator, the Triton clients and the
# Kubernetes manifest validators come from PyPI), and apt-get for Prometheus Alertmanager,
# promtool, Chromium and ChromeDriver (Debian packages) when they are not installed. No `protoc`: the ONNX runtime (tract-onnx)
# and the gRPC service ship their generated protobuf code.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

# 1. The S3 emulator (moto[server] from PyPI), started on a free loopback port.
#    scripts/moto.sh installs it when missing, starts it, creates the test bucket and
#    exports MLOPS_S3_TEST_ENDPOINT / MLOPS_S3_TEST_BUCKET and AWS_* for the S3 tests.
MOTO_PID=""
log "starting moto_server"
# shellcheck source=scripts/moto.sh
source scripts/moto.sh
if [ -z "${MLOPS_S3_TEST_ENDPOINT:-}" ]; then
  echo "scripts/test.sh: the S3 emulator did not start; refusing to run the S3 tests as skipped" >&2
  exit 1
fi
# Prometheus Alertmanager (Debian `prometheus-alertmanager`) on a free loopback port for the
# monitor's Alertmanager test, and `promtool` (Debian `prometheus`) for deploy/prometheus's
# rule tests: scripts/alertmanager.sh installs both when missing and exports
# MLOPS_ALERTMANAGER_URL / MLOPS_PROMTOOL.
log "starting Prometheus Alertmanager"
# shellcheck source=scripts/alertmanager.sh
source scripts/alertmanager.sh
if [ -z "${MLOPS_ALERTMANAGER_URL:-}" ]; then
  echo "scripts/test.sh: Alertmanager did not start; refusing to run its tests as skipped" >&2
  exit 1
fi
# Debian's Chromium and ChromeDriver for the browser tests (reports and the web console):
# scripts/browser.sh installs both when missing, starts chromedriver on a free loopback port
# and exports MLOPS_CHROMEDRIVER_URL / MLOPS_CHROMIUM.
log "starting chromedriver"
# shellcheck source=scripts/browser.sh
source scripts/browser.sh
if [ -z "${MLOPS_CHROMEDRIVER_URL:-}" ]; then
  echo "scripts/test.sh: chromedriver did not start; refusing to run the browser tests as skipped" >&2
  exit 1
fi
cleanup() {
  if [ -n "${MOTO_PID:-}" ]; then kill "$MOTO_PID" 2>/dev/null || true; fi
  alertmanager_stop 2>/dev/null || true
  browser_stop 2>/dev/null || true
}
trap cleanup EXIT
source scripts/triton.sh

# 2. The Kubernetes manifests and Dockerfile checks (offline: kubectl kustomize,
#    kubernetes-validate --strict, CRD JSON schemas); no cluster needed.
log "validating deploy/kubernetes"
./scripts/validate-k8s.sh

# 3. The whole workspace, every feature, doc-tests included.
log "cargo test --workspace --all-features"
cargo test --workspace --all-features --locked "$@"

# 4. Command steps in other languages, with the binary the tests just built: a LightGBM
#    pipeline exported with onnxmltools (onnxruntime and `mlops serve` against LightGBM), and
#    the Airflow DAG under `airflow dags test` (twice: the rerun executes 0 steps). Each
#    installs its pinned venv under ~/.cache/mlops-rs/ from PyPI.
log "examples/lightgbm (scripts/lightgbm.sh)"
./scripts/lightgbm.sh "${CARGO_TARGET_DIR:-target}/debug/mlops"
log "examples/airflow (scripts/airflow.sh)"
./scripts/airflow.sh "${CARGO_TARGET_DIR:-target}/debug/mlops"
