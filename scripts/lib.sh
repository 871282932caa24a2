# Shared set-up for scripts/demo.sh and scripts/test.sh (sourced, not run).
# Everything here is idempotent: a second run only checks.

GW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GW_VENV="${GAZEWIRE_VENV:-$GW_ROOT/.venv}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A python3 >= 3.10 with venv, or a clear instruction.
find_python() {
    local candidate
    for candidate in ${GAZEWIRE_PYTHON:-} python3 python3.13 python3.12 python3.11 python3.10; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
            command -v "$candidate"; return 0
        fi
    done
    return 1
}

# A working CPython 3.10 (pyenv shims may exist without the version enabled).
find_python310() {
    local candidate
    for candidate in ${GAZEWIRE_PYTHON310:-} python3.10 $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10 2>/dev/null); do
        if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; then
            command -v "$candidate"; return 0
        fi
    done
    return 1
}

# apt-get install the missing packages when we may (root, or passwordless sudo).
# $1: what needs them (for the message); rest: package names.
apt_install() {
    local why="$1"; shift
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            die "$why needs: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
        fi
    fi
    command -v apt-get >/dev/null 2>&1 || die "$why needs: ${missing[*]} (no apt-get here: install them with your package manager)"
    say "installing ${missing[*]} (apt-get; $why)"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
}

# Create the virtual environment and install gazewire with the given extras.
ensure_venv() {
    local extras="$1" python stamp
    python="$(find_python)" || die "gazewire needs Python >= 3.10 with venv (apt-get install python3 python3-venv)"
    if [ ! -x "$GW_VENV/bin/python" ]; then
        say "creating virtual environment $GW_VENV"
        "$python" -m venv "$GW_VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
    fi
    stamp="$GW_VENV/.gazewire-installed-$extras"
    if [ ! -f "$stamp" ] || [ "$GW_ROOT/pyproject.toml" -nt "$stamp" ] || [ "$GW_ROOT/setup.py" -nt "$stamp" ]; then
        say "installing gazewire[$extras] into $GW_VENV"
        "$GW_VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
        "$GW_VENV/bin/python" -m pip install -q -e "$GW_ROOT[$extras]" || die "pip install failed"
        touch "$stamp"
    fi
}
