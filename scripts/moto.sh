# shellcheck shell=bash
# Source me: starts moto_server (the S3 emulator) on a free loopback port for the S3 tests.
#
#   source scripts/moto.sh      # exports MLOPS_S3_TEST_ENDPOINT, MLOPS_S3_TEST_BUCKET, AWS_* dummies
#   cargo test -p mlops-registry --features s3
#   moto_stop                   # or let the EXIT trap stop it
#
# Installs `moto[server]` with pip when it is missing, and runs it as `python3 -m moto.server`. Only 127.0.0.1 is used.

moto_start() {
    # Run the server as a module: works whether or not pip's console scripts are on PATH
    # (pyenv shims need a rehash after an install, a --user install lands in ~/.local/bin).
    if ! python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
        # A Debian-managed Python refuses plain `pip install` (PEP 668); retry with its override.
        python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' \
            || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages 'moto[server]' \
            || { echo "moto.sh: pip install moto[server] failed" >&2; return 1; }
    fi
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()') || return 1
    MOTO_LOG=$(mktemp -t moto.XXXXXX.log)
    python3 -m moto.server -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
    MOTO_PID=$!
    export MOTO_PID MOTO_LOG
    export MLOPS_S3_TEST_ENDPOINT="http://127.0.0.1:${port}"
    export MLOPS_S3_TEST_BUCKET="mlops-test"
    export AWS_ACCESS_KEY_ID="testing" AWS_SECRET_ACCESS_KEY="testing" AWS_REGION="us-east-1"
    local i
    for i in $(seq 1 100); do
        if python3 - "$MLOPS_S3_TEST_ENDPOINT" "$MLOPS_S3_TEST_BUCKET" <<'PY' 2>/dev/null
import sys, urllib.request
req = urllib.request.Request(f"{sys.argv[1]}/{sys.argv[2]}", method="PUT")
urllib.request.urlopen(req, timeout=2)
PY
        then
            echo "moto.sh: moto_server pid ${MOTO_PID} at ${MLOPS_S3_TEST_ENDPOINT}, bucket ${MLOPS_S3_TEST_BUCKET}" >&2
            return 0
        fi
        if ! kill -0 "$MOTO_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "moto.sh: moto_server did not start; log:" >&2
    cat "$MOTO_LOG" >&2
    moto_stop
    return 1
}

moto_stop() {
    if [ -n "${MOTO_PID:-}" ]; then
        kill "$MOTO_PID" 2>/dev/null
        wait "$MOTO_PID" 2>/dev/null
        unset MOTO_PID
    fi
    unset MLOPS_S3_TEST_ENDPOINT MLOPS_S3_TEST_BUCKET
}

if moto_start; then
    trap moto_stop EXIT
fi
