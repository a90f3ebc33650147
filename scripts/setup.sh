#!/usr/bin/env bash
# Creates .venv (CPython 3.10, which Lava requires), installs the pinned stack and tna-deploy,
# removes the `argparse` backport lava-dl's dependencies drag in (it breaks pytest), and installs
# the real Fashion-MNIST from Debian's `dataset-fashion-mnist` when it is missing and apt is usable.
# Idempotent: a second run only re-checks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP=$VENV/.installed

find_python310() {
    for cand in "${PYTHON310:-}" python3.10 \
        "$(command -v pyenv >/dev/null 2>&1 && pyenv root)/versions/3.10.13/bin/python" \
        /root/.pyenv/versions/3.10.*/bin/python /usr/bin/python3.10 /usr/local/bin/python3.10; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 && \
           "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
            command -v "$cand"; return 0
        fi
    done
    return 1
}

if [ ! -f "$STAMP" ] || [ requirements.lock -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        PY=$(find_python310) || { echo "error: CPython 3.10 not found (Lava needs exactly 3.10); install it or set PYTHON310=/path/to/python3.10" >&2; exit 1; }
        echo "setup: creating $VENV with $PY" >&2
        "$PY" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --upgrade "pip<25" >&2
    "$VENV/bin/python" -m pip install --quiet -r requirements.lock >&2
    "$VENV/bin/python" -m pip install --quiet --no-deps -e . >&2
    # unittest2 (a lava-dl dependency) installs the 2006 `argparse` backport, which shadows the
    # standard library and breaks pytest ("unexpected keyword argument 'allow_abbrev'").
    "$VENV/bin/python" -m pip uninstall --quiet -y argparse >/dev/null 2>&1 || true
    touch "$STAMP"
fi

FMNIST=/usr/share/datasets/fashion-mnist
if [ ! -f "$FMNIST/train-images-idx3-ubyte.gz" ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
    if $SUDO true 2>/dev/null; then
        echo "setup: installing Debian package dataset-fashion-mnist" >&2
        ($SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
            || echo "setup: could not install dataset-fashion-mnist; the demo will try torchvision's download" >&2
    fi
fi
