#!/bin/sh
# Runs the Python binding's test suite N times in a row (default 1) from the
# repository root; stops at the first failing run. Build the library first
# (`cargo build`) or point SACK_TCP_LIB at one.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-1}
cd "$root"
i=1
while [ "$i" -le "$runs" ]; do
    echo "== run $i of $runs"
    python3 -m unittest discover -s bindings/python/tests -v
    i=$((i + 1))
done
