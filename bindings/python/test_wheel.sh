#!/bin/sh
# Installs the binding the way a user does, into a fresh virtual environment
# (pip builds the library with cargo in release mode and puts it inside the
# package; nothing is downloaded), then runs the binding's tests from
# another directory against that installed package only.
#   sh bindings/python/test_wheel.sh [python3]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${1:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
"$python" -m venv "$work/venv"
echo "== pip install bindings/python (into $work/venv)"
"$work/venv/bin/python" -m pip install --disable-pip-version-check --no-index -q "$here"
cd "$work"
"$work/venv/bin/python" - <<'PY'
import sack_tcp, sys, os
print("sack_tcp", sack_tcp.version_string(), "from", os.path.dirname(sack_tcp.__file__))
print("library", sack_tcp.library_path, "(" + sack_tcp.library_origin + ")")
assert sack_tcp.library_origin == "package", sack_tcp.library_origin
assert sack_tcp.library_path.startswith(sys.prefix), sack_tcp.library_path
PY
echo "== the binding's tests against the installed package"
SACK_TCP_TEST_INSTALLED=1 "$work/venv/bin/python" -m unittest discover -s "$here/tests" -t "$here/tests"
