#!/usr/bin/env bash
# Fuzz smoke test: builds the fuzz targets and runs each one for a few
# seconds over its committed corpus (fuzz/corpus/<target>). Any finding
# (panic, failed assertion, sanitizer report, timeout, out-of-memory) fails
# the script; its reproducer is left in fuzz/artifacts/<target>/.
#
#   bash fuzz/smoke.sh                       # every target, 5 s each
#   bash fuzz/smoke.sh pem address           # some targets
#   SMOKE_SECONDS=60 bash fuzz/smoke.sh pem  # longer
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address); on a
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks them. cargo-fuzz itself is
# installed from crates.io when missing. New inputs the fuzzer finds go to a
# scratch directory, so the committed corpus is never changed by this script.
set -euo pipefail
cd "$(dirname "$0")"

export RUSTC_BOOTSTRAP=1
# The instrumented build (aws-lc included) takes minutes from scratch; a
# target directory outside the checkout lets every clone on this machine
# reuse it.
export CARGO_TARGET_DIR=${SACK_TCP_FUZZ_TARGET_DIR:-$HOME/.cache/sack_tcp/fuzz-target}
seconds=${SMOKE_SECONDS:-5}
all_targets=(address pem detect utf8_carry options)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "smoke: installing cargo-fuzz"
    cargo install --locked --version 0.13.2 cargo-fuzz
fi

# -a: debug assertions and overflow checks on, so debug_assert! and integer
# overflow are findings too.
fuzz_flags=(--debug-assertions)
echo "== cargo fuzz build (${targets[*]})"
for t in "${targets[@]}"; do
    cargo fuzz build "${fuzz_flags[@]}" "$t"
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0 failed=0
for t in "${targets[@]}"; do
    extra=()
    [[ -f dicts/$t.dict ]] && extra+=("-dict=dicts/$t.dict")
    mkdir -p "$scratch/$t"
    echo "== fuzz $t (${seconds}s)"
    # Scratch first: libFuzzer writes new inputs to the first directory.
    if cargo fuzz run "${fuzz_flags[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 \
        -print_final_stats=1 "${extra[@]}" >"$scratch/$t.log" 2>&1; then
        grep -E '^(#[0-9]+\s+DONE|Done [0-9]+ runs)' "$scratch/$t.log" || true
        passed=$((passed + 1))
    else
        tail -n 60 "$scratch/$t.log"
        echo "smoke: FINDING in $t (reproducer in fuzz/artifacts/$t/)"
        failed=$((failed + 1))
    fi
done
echo "smoke: $passed passed, $failed failed"
((failed == 0))
