# shellcheck shell=bash
# Source me: creates (or reuses) a virtualenv with the official Triton clients pinned in
# tools/reference/requirements-triton.txt, and exports MLOPS_TRITON_PYTHON (its python) for
# mlops-cli/tests/triton_clients.rs.
#
#   source scripts/triton.sh
#   cargo test -p mlops-cli --test triton_clients
#
# The venv lives under ${XDG_CACHE_HOME:-$HOME/.cache}/mlops-rs/venv-triton and is reinstalled
# only when the pins change (their SHA-256 is kept beside it). Needs python3 with venv and pip.

triton_setup() {
    local root req venv stamp want
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
    req="$root/tools/reference/requirements-triton.txt"
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-rs/venv-triton"
    stamp="$venv/.requirements.sha256"
    want=$(sha256sum "$req" | cut -d' ' -f1) || return 1
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "triton.sh: installing the Triton clients into $venv" >&2
        mkdir -p "$(dirname "$venv")" || return 1
        python3 -m venv --clear "$venv" || { echo "triton.sh: python3 -m venv failed" >&2; return 1; }
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" \
            || { echo "triton.sh: pip install -r $req failed" >&2; return 1; }
        echo "$want" >"$stamp"
    fi
    "$venv/bin/python" -c 'import tritonclient.http, tritonclient.grpc, numpy' \
        || { echo "triton.sh: the venv cannot import tritonclient" >&2; return 1; }
    export MLOPS_TRITON_PYTHON="$venv/bin/python"
    echo "triton.sh: MLOPS_TRITON_PYTHON=$MLOPS_TRITON_PYTHON" >&2
}

triton_setup
