# Sourced by scripts/test and scripts/hub: make .venv and install the project into it.
#
# ensure_venv EXTRAS   EXTRAS is "" (the package alone) or "test" (the test extras).
# The install is skipped while pyproject.toml is unchanged: its sha256 and the extras
# installed are kept in .venv/.installed.

ensure_venv() {
    local extras="${1:-}"
    local python="${PYTHON:-python3}"
    local spec="."
    if [[ -n "$extras" ]]; then
        spec=".[${extras}]"
    fi

    if ! command -v "$python" >/dev/null 2>&1; then
        echo "error: $python not found; install Python 3.11 or newer (or set PYTHON=...)" >&2
        return 1
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "error: $python is $("$python" -V 2>&1); artifact-hub needs Python 3.11 or newer" >&2
        return 1
    fi

    if [[ ! -x .venv/bin/python ]]; then
        echo "creating .venv with $("$python" -V 2>&1)" >&2
        if ! "$python" -m venv .venv; then
            # e.g. Debian without python3-venv: a venv without pip, driven by the system pip
            echo "python -m venv failed; retrying without pip" >&2
            rm -rf .venv
            "$python" -m venv --without-pip .venv
        fi
    fi

    local hash
    hash="$(.venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' pyproject.toml)"
    local marker=.venv/.installed have_hash="" have_extras=""
    if [[ -f "$marker" ]]; then
        read -r have_hash have_extras <"$marker" || true
    fi
    if [[ "$have_hash" == "$hash" && ( -z "$extras" || " $have_extras " == *" $extras "* ) ]]; then
        return 0
    fi

    local -a pip=(.venv/bin/python -m pip)
    if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
        pip=("$python" -m pip --python .venv/bin/python)
    fi
    echo "installing artifact-hub ($spec) into .venv" >&2
    "${pip[@]}" install --disable-pip-version-check --quiet --editable "$spec"
    printf '%s %s\n' "$hash" "$extras" >"$marker"
}
