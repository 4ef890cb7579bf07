# shellcheck shell=bash
# Source me: installs Debian's Chromium and ChromeDriver when missing and starts ChromeDriver on
# a free loopback port for the browser tests (mlops-cli/tests/browser.rs).
#
#   source scripts/browser.sh   # exports MLOPS_CHROMEDRIVER_URL and MLOPS_CHROMIUM
#   cargo test -p mlops-cli --test browser
#   browser_stop                # or let the EXIT trap stop it
#
# Packages: `chromium` and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver). The
# tests start Chromium headless, with a fresh profile and background networking off (this
# machine's network is closed; Chromium's own update and sync calls would only fail).

browser_install() {
    local sudo=""
    if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
    local pkgs=()
    command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || pkgs+=(chromium-driver)
    if [ "${#pkgs[@]}" -gt 0 ]; then
        echo "browser.sh: installing ${pkgs[*]} with apt-get" >&2
        $sudo apt-get update -qq >/dev/null \
            && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null \
            || { echo "browser.sh: apt-get install ${pkgs[*]} failed" >&2; return 1; }
    fi
}

browser_start() {
    browser_install || return 1
    MLOPS_CHROMIUM=$(command -v chromium) || return 1
    export MLOPS_CHROMIUM
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()') || return 1
    CHROMEDRIVER_LOG=$(mktemp -t chromedriver.XXXXXX.log) || return 1
    chromedriver --port="$port" --allowed-ips=127.0.0.1 >"$CHROMEDRIVER_LOG" 2>&1 &
    CHROMEDRIVER_PID=$!
    export CHROMEDRIVER_PID CHROMEDRIVER_LOG
    local i
    for i in $(seq 1 100); do
        if python3 - "http://127.0.0.1:${port}/status" <<'PY' 2>/dev/null
import json, sys, urllib.request
assert json.load(urllib.request.urlopen(sys.argv[1], timeout=2))["value"]["ready"]
PY
        then
            export MLOPS_CHROMEDRIVER_URL="127.0.0.1:${port}"
            echo "browser.sh: chromedriver pid ${CHROMEDRIVER_PID} at ${MLOPS_CHROMEDRIVER_URL}; $("$MLOPS_CHROMIUM" --version 2>/dev/null)" >&2
            return 0
        fi
        if ! kill -0 "$CHROMEDRIVER_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "browser.sh: chromedriver did not become ready; log:" >&2
    cat "$CHROMEDRIVER_LOG" >&2
    browser_stop
    return 1
}

browser_stop() {
    if [ -n "${CHROMEDRIVER_PID:-}" ]; then
        kill "$CHROMEDRIVER_PID" 2>/dev/null
        wait "$CHROMEDRIVER_PID" 2>/dev/null
        unset CHROMEDRIVER_PID
    fi
    unset MLOPS_CHROMEDRIVER_URL
}

browser_start || true
