#!/usr/bin/env bash
# Builds the saasql Python package (python/) as a wheel, lints its crate,
# installs the wheel in a venv with the PyPI datafusion 55 it plugs into, and
# runs its pytest tests, which compare the bundled reports with the saasql
# binary's output. .ci/run calls
# this after `cargo test`, which has built that binary.
#
# Quick on a second run: the venv lives in the cargo target directory and is
# refreshed only when requirements-dev.txt changes; the wheel is built with
# the dev profile into the same target folder. The crate depends on the lean
# library only, so its DataFusion (fewer features than the command's) is a
# build of its own, compiled once and kept there (users build a release wheel,
# see docs/python.md).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$CARGO_TARGET_DIR/python-venv"
requirements=python/requirements-dev.txt

if [ ! -x "$venv/bin/python" ]; then
  echo "== python venv: $venv"
  python3 -m venv "$venv"
fi
stamp="$venv/.saasql-requirements"
if ! cmp -s "$requirements" "$stamp"; then
  echo "== pip install -r $requirements"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r "$requirements"
  cp "$requirements" "$stamp"
fi

echo "== maturin build (dev profile)"
wheels="$CARGO_TARGET_DIR/wheels"
rm -f "$wheels"/saasql-*.whl
"$venv/bin/maturin" build --locked --profile dev --manifest-path python/Cargo.toml \
  --interpreter "$venv/bin/python" --out "$wheels" --compatibility linux --quiet

# Lint the crate with the environment maturin gives cargo: pyo3's build
# script reruns when it changes, and pyo3 and this crate would then be
# compiled again on every run, once for clippy and once for the wheel.
echo "== cargo clippy -p saasql-python -- -D warnings"
pyver=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
host=$(rustc -vV | sed -n 's/^host: //p')
PYO3_BUILD_EXTENSION_MODULE=1 \
PYO3_CONFIG_FILE="$CARGO_TARGET_DIR/maturin/pyo3-config-$host-$pyver-abi3.txt" \
PYO3_ENVIRONMENT_SIGNATURE="cpython-$pyver-64bit" \
PYO3_PYTHON="$venv/bin/python" PYTHON_SYS_EXECUTABLE="$venv/bin/python" \
  cargo clippy --locked --quiet -p saasql-python --all-targets -- -D warnings

"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$wheels"/saasql-*.whl

echo "== pytest python/tests"
SAASQL_BIN="${SAASQL_BIN:-$CARGO_TARGET_DIR/debug/saasql}" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
