# shellcheck shell=bash
# Source me: starts Prometheus Alertmanager on a free loopback port for mlops-monitor's
# Alertmanager test, and checks that `promtool` is there for the rules tests.
#
#   source scripts/alertmanager.sh   # exports MLOPS_ALERTMANAGER_URL (and MLOPS_PROMTOOL)
#   cargo test -p mlops-monitor --test alertmanager --test promtool
#   alertmanager_stop                # or let the EXIT trap stop it
#
# Installs the Debian packages `prometheus-alertmanager` and `prometheus` (for promtool) with
# apt-get when the binaries are missing. Debian names the binary `prometheus-alertmanager`;
# an upstream `alertmanager` on PATH is used as well. Config and storage live in a temporary
# directory: a null receiver, group_wait 1s, no clustering. Only 127.0.0.1 is used.

alertmanager_install() {
    local sudo=""
    if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
    local pkgs=()
    if ! command -v prometheus-alertmanager >/dev/null 2>&1 && ! command -v alertmanager >/dev/null 2>&1; then
        pkgs+=(prometheus-alertmanager)
    fi
    if ! command -v promtool >/dev/null 2>&1; then pkgs+=(prometheus); fi
    if [ "${#pkgs[@]}" -gt 0 ]; then
        echo "alertmanager.sh: installing ${pkgs[*]} with apt-get" >&2
        $sudo apt-get update -qq >/dev/null \
            && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null \
            || { echo "alertmanager.sh: apt-get install ${pkgs[*]} failed" >&2; return 1; }
    fi
}

alertmanager_start() {
    alertmanager_install || return 1
    local bin
    bin=$(command -v prometheus-alertmanager || command -v alertmanager) || return 1
    MLOPS_PROMTOOL=$(command -v promtool) || { echo "alertmanager.sh: promtool missing" >&2; return 1; }
    export MLOPS_PROMTOOL
    ALERTMANAGER_DIR=$(mktemp -d -t alertmanager.XXXXXX) || return 1
    cat >"$ALERTMANAGER_DIR/alertmanager.yml" <<'YAML'
route:
  receiver: "null"
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
YAML
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()') || return 1
    ALERTMANAGER_LOG="$ALERTMANAGER_DIR/alertmanager.log"
    "$bin" --config.file="$ALERTMANAGER_DIR/alertmanager.yml" \
        --storage.path="$ALERTMANAGER_DIR/data" \
        --web.listen-address="127.0.0.1:${port}" \
        --cluster.listen-address= \
        >"$ALERTMANAGER_LOG" 2>&1 &
    ALERTMANAGER_PID=$!
    export ALERTMANAGER_PID ALERTMANAGER_LOG ALERTMANAGER_DIR
    local url="http://127.0.0.1:${port}"
    local i
    for i in $(seq 1 100); do
        if python3 - "$url/-/ready" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2)
PY
        then
            export MLOPS_ALERTMANAGER_URL="$url"
            echo "alertmanager.sh: $bin pid ${ALERTMANAGER_PID} at ${MLOPS_ALERTMANAGER_URL}; promtool ${MLOPS_PROMTOOL}" >&2
            return 0
        fi
        if ! kill -0 "$ALERTMANAGER_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "alertmanager.sh: alertmanager did not become ready; log:" >&2
    cat "$ALERTMANAGER_LOG" >&2
    alertmanager_stop
    return 1
}

alertmanager_stop() {
    if [ -n "${ALERTMANAGER_PID:-}" ]; then
        kill "$ALERTMANAGER_PID" 2>/dev/null
        wait "$ALERTMANAGER_PID" 2>/dev/null
        unset ALERTMANAGER_PID
    fi
    if [ -n "${ALERTMANAGER_DIR:-}" ]; then
        rm -rf "$ALERTMANAGER_DIR"
        unset ALERTMANAGER_DIR
    fi
    unset MLOPS_ALERTMANAGER_URL
}

if alertmanager_start; then
    trap alertmanager_stop EXIT
fi
