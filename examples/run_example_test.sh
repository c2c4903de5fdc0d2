#!/bin/sh
# Runs the example servers and clients against each other on loopback, for
# ctest. Usage: run_example_test.sh CASE BIN_DIR CERT_DIR
#   CASE      echo | echo_text | tls_sni | tls_add_cert | fallback | usage
#   BIN_DIR   where the sack_tcp_* example programs are
#   CERT_DIR  the test certificates (c_tests/make_certs.sh)
# A server is started in the background with --max-connections, so that it
# exits by itself once the clients are done; its stdout goes to a file in
# which the script waits (bounded) for "listening on PORT" and other lines.
# Every program runs under timeout(1), so nothing can hang the test.
set -u
case_name=$1 bin=$2 certs=$3

work=$(mktemp -d "${TMPDIR:-/tmp}/sack_tcp_example.XXXXXX") || exit 1
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

show() { # FILE: print it, labelled, for the test log
    [ -f "$work/$1" ] && { echo "--- $1:"; cat "$work/$1"; }
}

fail() {
    echo "FAIL ($case_name): $*"
    for f in server.out server.err client1.out client2.out client3.out; do show "$f"; done
    exit 1
}

# start_server PROGRAM ARGS...: starts it, waits for its port, sets $port.
start_server() {
    program=$1
    shift
    timeout 30 "$bin/$program" "$@" >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    wait_for_server_line '^listening on [0-9][0-9]*$' || fail "the server did not report its port"
    port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$work/server.out")
    echo "$program listening on $port"
}

# wait_for_server_line REGEX: up to 10 s for the server to print a matching line.
wait_for_server_line() {
    timeout 10 sh -c 'until grep -q "$1" "$2"; do sleep 0.05; done' sh "$1" "$work/server.out"
}

# run_client N ARGS...: runs the echo client, output in clientN.out; returns its status.
run_client() {
    n=$1
    shift
    timeout 20 "$bin/sack_tcp_echo_client" "$@" >"$work/client$n.out" 2>&1
}

# expect_client N EXPECTED_STATUS ARGS...
expect_client() {
    n=$1 want=$2
    shift 2
    run_client "$n" "$@"
    rc=$?
    [ "$rc" -eq "$want" ] || fail "client $n exited with $rc, expected $want"
}

# client_said N LINE: clientN.out has exactly this line.
client_said() {
    grep -qxF "$2" "$work/client$1.out" || fail "client $1 did not print \"$2\""
}

# server_count REGEX COUNT: the server printed COUNT lines matching REGEX.
server_count() {
    got=$(grep -c "$1" "$work/server.out")
    [ "$got" -eq "$2" ] || fail "server printed $got lines matching \"$1\", expected $2"
}

# finish_server: the server must exit by itself, with status 0.
finish_server() {
    wait "$server_pid"
    rc=$?
    server_pid=
    [ "$rc" -eq 0 ] || fail "server exited with $rc (124: still running after 30 s)"
    grep -q ', 0 handles left$' "$work/server.out" || fail "server did not free every handle"
}

tls_client() { # N EXPECTED_STATUS HOST_NAME MESSAGE...
    n=$1 want=$2 name=$3
    shift 3
    expect_client "$n" "$want" --to "127.0.0.1:$port" --tls --ca "$certs/ca.pem" --host "$name" "$@"
}

case $case_name in
echo)
    # Two clients at once against a plain echo server.
    start_server sack_tcp_echo_server --address 127.0.0.1 --port 0 --max-connections 2
    run_client 1 --to "127.0.0.1:$port" hello world &
    first=$!
    run_client 2 --to "127.0.0.1:$port" "one more" "and another one"
    rc2=$?
    wait $first
    rc1=$?
    [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] || fail "clients exited with $rc1 and $rc2"
    client_said 1 "echo: hello"
    client_said 1 "echo: world"
    client_said 1 "2 of 2 echoes matched"
    client_said 2 "echo: and another one"
    client_said 2 "2 of 2 echoes matched"
    finish_server
    server_count '^connection from 127\.0\.0\.1:' 2
    server_count '^closed 127\.0\.0\.1:' 2
    ;;
echo_text)
    # Text mode: the server prints what it receives, UTF-8 included.
    start_server sack_tcp_echo_server --text --max-connections 1
    expect_client 1 0 --to "localhost:$port" "grüße" "¡hola!"
    client_said 1 "echo: grüße"
    client_said 1 "echo: ¡hola!"
    finish_server
    server_count ': grüße$' 1
    server_count ': ¡hola!$' 1
    ;;
tls_sni)
    # The SNI host verifies; the certificate added after one connection
    # serves the second client.
    start_server sack_tcp_tls_sni_server --cert "$certs/localhost.pem" --key "$certs/localhost.key" \
        --host localhost \
        --sni "a.example.com=$certs/a.example.com.pem,$certs/a.example.com.key" \
        --sni "b.example.com=$certs/b.example.com.pem,$certs/b.example.com.key" \
        --add-after 1 "added.example.com=$certs/added.example.com.pem,$certs/added.example.com.key" \
        --max-connections 2
    tls_client 1 0 a.example.com "hello a"
    client_said 1 "connected to 127.0.0.1:$port (TLS, certificate verified)"
    client_said 1 "echo: hello a"
    wait_for_server_line '^added certificate for added\.example\.com' ||
        fail "the server did not add the certificate"
    tls_client 2 0 added.example.com "hello added"
    client_said 2 "echo: hello added"
    finish_server
    server_count '^TLS handshake done with ' 2
    ;;
tls_add_cert)
    # Before the addition a client for added.example.com gets the default
    # certificate and rejects it; after it, the same client verifies.
    start_server sack_tcp_tls_sni_server --cert "$certs/default.example.com.pem" \
        --key "$certs/default.example.com.key" --host default.example.com \
        --add-after 1 "added.example.com=$certs/added.example.com.pem,$certs/added.example.com.key" \
        --max-connections 3
    tls_client 1 1 added.example.com "too early"
    client_said 1 "0 of 1 echoes matched"
    grep -q '^error: SACK_TCP_TLS_BAD_NAME (2)' "$work/client1.out" ||
        fail "client 1 did not report SACK_TCP_TLS_BAD_NAME"
    wait_for_server_line '^added certificate for added\.example\.com after 1 connection$' ||
        fail "the server did not add the certificate"
    tls_client 2 0 added.example.com "in time"
    client_said 2 "echo: in time"
    tls_client 3 0 default.example.com "the default still works"
    client_said 3 "echo: the default still works"
    finish_server
    server_count '^TLS handshake done with ' 2
    ;;
fallback)
    # One port, a TLS client and a plain one.
    start_server sack_tcp_fallback_server --cert "$certs/localhost.pem" \
        --key "$certs/localhost.key" --port 0 --max-connections 2
    expect_client 1 0 --to "127.0.0.1:$port" --tls --ca "$certs/ca.pem" "over tls"
    client_said 1 "connected to 127.0.0.1:$port (TLS, certificate verified)"
    client_said 1 "echo: over tls"
    expect_client 2 0 --to "127.0.0.1:$port" "in plain text"
    client_said 2 "connected to 127.0.0.1:$port"
    client_said 2 "echo: in plain text"
    finish_server
    server_count '^tls connection from 127\.0\.0\.1:' 1
    server_count '^plain connection from 127\.0\.0\.1:' 1
    ;;
usage)
    # Bad command lines exit 2 with a usage message; nothing is opened.
    for cmd in "sack_tcp_echo_server --port 70000" "sack_tcp_echo_server --max-connections" \
        "sack_tcp_echo_client --to 127.0.0.1:1" "sack_tcp_echo_client --ca ca.pem --to 127.0.0.1:1 hi" \
        "sack_tcp_tls_sni_server --key k.pem" "sack_tcp_tls_sni_server --cert c --key k --add-after 0 x=c,k" \
        "sack_tcp_fallback_server --port 1"; do
        # Split on purpose: the arguments contain no spaces.
        timeout 10 "$bin"/$cmd >"$work/client1.out" 2>&1
        rc=$?
        [ "$rc" -eq 2 ] || fail "\"$cmd\" exited with $rc, expected 2"
        grep -q '^usage: ' "$work/client1.out" || fail "\"$cmd\" printed no usage"
    done
    ;;
*)
    echo "unknown case $case_name"
    exit 2
    ;;
esac
# The outputs, for ctest -V.
for f in server.out server.err client1.out client2.out client3.out; do show "$f"; done
echo "PASS ($case_name)"
