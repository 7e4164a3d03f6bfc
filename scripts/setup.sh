# Shared set-up for ./run-tests and ./sscard-demo (sourced, not executed).
# Installs the Debian packages sscard needs when they are missing (as root; otherwise it
# prints the exact apt-get line), creates .venv and installs sscard into it.
set -euo pipefail

SSCARD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APT_PACKAGES=(pcscd vsmartcard-vpcd vsmartcard-vpicc pcsc-tools opensc libpcsclite-dev gcc swig python3-venv python3-dev)

missing_packages() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    echo "${missing[@]:-}"
}

ensure_apt_packages() {
    local missing
    missing="$(missing_packages)"
    [ -z "$missing" ] && return 0
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "sscard: this set-up expects Debian/Ubuntu (dpkg); install: ${APT_PACKAGES[*]}" >&2
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "sscard: missing system packages; run as root:" >&2
        echo "  apt-get update && apt-get install -y --no-install-recommends $missing" >&2
        return 1
    fi
    echo "sscard: installing system packages: $missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

pick_python() {
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    echo "sscard: Python >= 3.11 with the venv module is required" >&2
    return 1
}

ensure_venv() {
    local venv="$SSCARD_ROOT/.venv" stamp python
    stamp="$venv/.sscard-installed"
    if [ ! -x "$venv/bin/python" ]; then
        python="$(pick_python)"
        echo "sscard: creating $venv" >&2
        "$python" -m venv "$venv"
    fi
    if [ ! -f "$stamp" ] || [ "$SSCARD_ROOT/pyproject.toml" -nt "$stamp" ]; then
        echo "sscard: installing sscard and its dependencies into .venv (pyscard compiles, ~10 s)" >&2
        local log="$venv/pip-install.log"
        if ! { "$venv/bin/python" -m pip install --upgrade pip &&
               "$venv/bin/python" -m pip install -e "$SSCARD_ROOT[test]"; } >"$log" 2>&1; then
            tail -n 25 "$log" >&2
            echo "sscard: pip install failed (full log: $log)" >&2
            return 1
        fi
        touch "$stamp"
    fi
}

sscard_setup() {
    ensure_apt_packages
    ensure_venv
    export PATH="$SSCARD_ROOT/.venv/bin:$PATH"
}
