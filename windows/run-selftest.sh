#!/bin/sh
# Cross-builds sack_tcp.dll for x86_64-pc-windows-gnu, builds windows/selftest.c
# against it with mingw-w64, and runs the self-test under wine, on loopback
# only, once with threaded and once with queued delivery.
#
# Usage: sh windows/run-selftest.sh            (from anywhere)
# Env:   CARGO_PROFILE=release  build the DLL with --release (default: dev)
#        SELFTEST_TIMEOUT=300   seconds allowed for each wine run
#        KEEP_WINEPREFIX=1      keep the throwaway wine prefix
#
# Installs what is missing first: the Rust target (rustup), mingw-w64's gcc,
# wine and openssl (Debian packages). Not part of .ci/test: it installs
# and runs wine. Everything it makes goes under target/windows-selftest/.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=x86_64-pc-windows-gnu
profile=${CARGO_PROFILE:-dev}
timeout_s=${SELFTEST_TIMEOUT:-300}
out=$root/target/windows-selftest
step() { printf '\n== %s\n' "$*"; }

# ---- what is missing ------------------------------------------------------
step "checking tools"
missing=
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || missing="$missing gcc-mingw-w64-x86-64"
command -v wine >/dev/null 2>&1 || missing="$missing wine wine64"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
if [ -n "$missing" ]; then
    echo "installing:$missing"
    sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
    rustup target add "$target"
fi
x86_64-w64-mingw32-gcc --version | head -n 1
wine --version 2>/dev/null

# ---- the DLL ----------------------------------------------------------------
step "cargo build --target $target --lib ($profile)"
if [ "$profile" = release ]; then
    cargo build --target "$target" --lib --release
    libdir=$root/target/$target/release
else
    cargo build --target "$target" --lib
    libdir=$root/target/$target/debug
fi
dll=$libdir/sack_tcp.dll
implib=$libdir/libsack_tcp.dll.a
ls -l "$dll" "$implib"

step "exports of sack_tcp.dll against include/sack_tcp.h"
x86_64-w64-mingw32-objdump -p "$dll" |
    sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' |
    grep -o 'sack_tcp_[a-z_0-9]*' | sort -u >"$libdir/exports.txt"
# The header's functions: the name before '(' in each SACK_TCP_API
# declaration, with comments and preprocessor lines removed first.
x86_64-w64-mingw32-gcc -fpreprocessed -dD -E -P include/sack_tcp.h 2>/dev/null |
    grep -v '^[[:space:]]*#' | tr '\n' ' ' | sed 's/;/;\n/g' |
    sed -n 's/.*SACK_TCP_API[^(]*[ *]\(sack_tcp_[a-z_0-9]*\)(.*/\1/p' |
    sort -u >"$libdir/header-functions.txt"
if ! diff "$libdir/header-functions.txt" "$libdir/exports.txt"; then
    echo "FAIL: the DLL's sack_tcp_* exports differ from the header's functions (< header, > DLL)"
    exit 1
fi
echo "all $(wc -l <"$libdir/exports.txt") sack_tcp_* functions of the header are exported"

# ---- the self-test ----------------------------------------------------------
step "building windows/selftest.c with mingw-w64"
rm -rf "$out/run"
mkdir -p "$out/run"
x86_64-w64-mingw32-gcc -std=c11 -O2 -Wall -Wextra -Werror -I include \
    windows/selftest.c "$implib" -o "$out/run/selftest.exe"
cp "$dll" "$out/run/"

# Copy any mingw runtime DLL the exe or the DLL imports (libgcc_s_seh-1,
# libwinpthread-1, ...); system DLLs are wine's own.
for dep in $(x86_64-w64-mingw32-objdump -p "$out/run/selftest.exe" "$dll" |
    sed -n 's/^[[:space:]]*DLL Name: //p' | sort -u); do
    case "$dep" in sack_tcp.dll) continue ;; esac
    found=$(find /usr/lib/gcc/x86_64-w64-mingw32 /usr/x86_64-w64-mingw32 \
        -iname "$dep" 2>/dev/null | sort | head -n 1)
    if [ -n "$found" ]; then
        echo "copying mingw runtime $found"
        cp "$found" "$out/run/"
    fi
done
echo "imports:" $(x86_64-w64-mingw32-objdump -p "$out/run/selftest.exe" "$dll" |
    sed -n 's/^[[:space:]]*DLL Name: //p' | sort -uf)

step "test certificates (c_tests/make_certs.sh)"
sh c_tests/make_certs.sh "$out/certs" >/dev/null
cp "$out/certs/ca.pem" "$out/certs/localhost.pem" "$out/certs/localhost.key" "$out/run/"
ls "$out/run"

# ---- wine -----------------------------------------------------------------
WINEPREFIX=$(mktemp -d /tmp/sack_tcp-wine.XXXXXX)
# Quiet, except the loader's errors (a missing DLL or export says why a
# run exits at once).
WINEDEBUG=-all,err+module
# No display and no Mono/Gecko installers: a console program needs neither.
WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
DISPLAY=
export WINEPREFIX WINEDEBUG WINEDLLOVERRIDES DISPLAY
cleanup() {
    wineserver -k >/dev/null 2>&1 || true
    if [ "${KEEP_WINEPREFIX:-0}" = 1 ]; then
        echo "wine prefix kept in $WINEPREFIX"
    else
        rm -rf "$WINEPREFIX"
    fi
}
trap cleanup EXIT INT TERM

step "creating the wine prefix $WINEPREFIX"
timeout "$timeout_s" wineboot -i >/dev/null 2>&1 || echo "(wineboot exited $?; continuing)"

# Rust's std imports bcryptprimitives!ProcessPrng (present on Windows 10 and
# later). Wines before 9 have no such DLL: stand one in, for this run only.
if [ ! -e "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]; then
    echo "this wine has no bcryptprimitives.dll: building windows/wine-bcryptprimitives.c"
    x86_64-w64-mingw32-gcc -std=c11 -O2 -Wall -Wextra -Werror -shared \
        windows/wine-bcryptprimitives.c -lbcrypt -o "$out/run/bcryptprimitives.dll"
fi

status=0
for mode in threaded queued; do
    step "wine selftest.exe $mode"
    set +e
    (cd "$out/run" && timeout "$timeout_s" wine selftest.exe "$mode") 2>"$out/wine-$mode.stderr"
    rc=$?
    set -e
    # wine's own chatter (e.g. "wine32 is missing") goes to stderr; show it on failure.
    if [ "$rc" -ne 0 ]; then
        echo "selftest.exe $mode exited $rc$([ "$rc" -eq 124 ] && echo ' (timeout)')"
        sed 's/^/  wine stderr: /' "$out/wine-$mode.stderr"
        status=1
    fi
done

# Optional: the crate's own unit tests, built for Windows and run under
# wine. Skipped: tls::certs' tests (they run the openssl CLI to make
# fixtures, and there is no openssl.exe in the prefix) and
# platform_trust_rejects_a_private_ca (wine's crypt32 rejects the private
# CA with an error the platform verifier does not classify as unknown
# issuer; see windows/README.md).
if [ "${RUST_TESTS:-0}" = 1 ]; then
    step "cargo test --target $target --lib under wine"
    mkdir -p "$out/shim"
    [ ! -e "$out/run/bcryptprimitives.dll" ] || cp "$out/run/bcryptprimitives.dll" "$out/shim/"
    set +e
    WINEPATH="$(winepath -w "$out/shim" 2>/dev/null)" \
        CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="timeout $timeout_s wine" \
        cargo test --target "$target" --lib -- \
        --skip tls::certs::tests --skip tls::verify::tests::platform_trust_rejects_a_private_ca \
        2>"$out/wine-cargo-test.stderr"
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        echo "cargo test under wine exited $rc"
        grep -v '^it looks like wine32\|^multiarch\|^execute "dpkg\|^apt-get install wine32' \
            "$out/wine-cargo-test.stderr" | tail -n 30
        status=1
    fi
fi

step "result"
if [ "$status" -eq 0 ]; then
    echo "windows self-test: PASS (threaded and queued, under $(wine --version 2>/dev/null))"
else
    echo "windows self-test: FAIL"
fi
exit "$status"
