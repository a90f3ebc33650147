#!/usr/bin/env bash
# Creates .venv312 (CPython 3.12, no Lava), builds the tna-deploy wheel and installs it there with the
# Lava-free extras (onnx, nir, test), pinned by requirements-lavafree.lock (the same torch as .venv so
# pip's cache serves its CUDA libraries once). The wheel is rebuilt and reinstalled on every run.
#   PYTHON312=/path/to/python3.12 bash scripts/setup_lavafree.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv312
STAMP=$VENV/.installed

find_python312() {
    for cand in "${PYTHON312:-}" python3.12 \
        "$(command -v pyenv >/dev/null 2>&1 && pyenv root)/versions/3.12.1/bin/python" \
        /root/.pyenv/versions/3.12.*/bin/python /usr/bin/python3.12 /usr/local/bin/python3.12; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 && \
           "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' 2>/dev/null; then
            command -v "$cand"; return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PY=$(find_python312) || { echo "error: CPython 3.12 not found; install it or set PYTHON312=/path/to/python3.12" >&2; exit 1; }
    echo "setup-lavafree: creating $VENV with $PY" >&2
    "$PY" -m venv "$VENV"
fi
DIST=$VENV/dist
rm -rf "$DIST"
"$VENV/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$DIST" . >&2
WHEEL=$(ls "$DIST"/tna_deploy-*.whl)
if [ ! -f "$STAMP" ] || [ requirements-lavafree.lock -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade "pip<25" >&2
    "$VENV/bin/python" -m pip install --quiet -c requirements-lavafree.lock "$WHEEL[onnx,nir,test]" >&2
    touch "$STAMP"
fi
"$VENV/bin/python" -m pip install --quiet --no-deps --force-reinstall "$WHEEL" >&2
if "$VENV/bin/python" -c 'import lava' 2>/dev/null; then
    echo "error: $VENV can import lava; the Lava-free suite needs a venv without it" >&2; exit 1
fi
