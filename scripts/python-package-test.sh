#!/usr/bin/env bash
# The Python package of the emulator, end to end: builds the wheel with maturin (the `sm-emulator`
# binary plus the pure-Python `secretsmanager_emulator` package), installs it with boto3 and pytest
# from PyPI into a fresh venv, and runs python/tests (and the README's "after" example) through the
# package's pytest fixture. Exits non-zero if the build, the install or any test fails.
#
#   PYTHON=python3                 interpreter for the venvs (default: python3)
#   SM_WHEEL_PROFILE=dev|release   cargo profile of the binary (default dev: CI reuses the test
#                                  build's dependencies in the workspace target dir)
#   SM_WHEEL_OUT=DIR               keep the built wheel in DIR (default: a temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=${PYTHON:-python3}
profile=${SM_WHEEL_PROFILE:-dev}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${SM_WHEEL_OUT:-$work/wheels}
mkdir -p "$out"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

echo "== python package: building the wheel (maturin, profile $profile)"
t=$(now)
"$python" -m venv "$work/build"
"$work/build/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.5,<2"
rm -f "$out"/secretsmanager_emulator-*.whl
(cd python && "$work/build/bin/maturin" build --profile "$profile" --out "$out")
wheel=$(ls "$out"/secretsmanager_emulator-*.whl)
echo "built $(basename "$wheel") ($(du -h "$wheel" | cut -f1)) in $(since "$t")"

echo "== python package: fresh venv, pip install wheel + boto3 + pytest"
t=$(now)
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel" boto3 pytest
echo "installed in $(since "$t")"
test -x "$work/venv/bin/sm-emulator" || { echo "the wheel did not install bin/sm-emulator" >&2; exit 1; }

echo "== python package: example suite through the pytest fixture"
t=$(now)
# Run from python/ with the installed package only: src/ is not on sys.path.
cd python
status=0
"$work/venv/bin/python" -m pytest -p no:cacheprovider -ra \
  tests examples/test_app_with_emulator.py || status=$?
echo "pytest finished in $(since "$t") with status $status"
exit "$status"
