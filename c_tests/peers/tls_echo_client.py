#!/usr/bin/env python3
"""A TLS echo client from another TLS stack (Python's ssl, i.e. OpenSSL),
for the C suite's tls_python_ssl_client test.

usage: tls_echo_client.py HOST PORT CAFILE SERVER_HOSTNAME MESSAGE

Connects with a verifying context (chain to CAFILE, name SERVER_HOSTNAME),
sends MESSAGE plus a newline, reads as many bytes back and prints
"ECHO <what came back>". Exits non-zero (with a traceback) on any failure;
every socket operation has a timeout.
"""
import socket
import ssl
import sys


def main() -> int:
    host, port, cafile, server_hostname, message = sys.argv[1:6]
    context = ssl.create_default_context(cafile=cafile)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    data = (message + "\n").encode()
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
            tls.sendall(data)
            got = b""
            while len(got) < len(data):
                chunk = tls.recv(len(data) - len(got))
                if not chunk:
                    break
                got += chunk
    sys.stdout.write("ECHO " + got.decode("utf-8", "replace"))
    sys.stdout.flush()
    return 0 if got == data else 1


if __name__ == "__main__":
    sys.exit(main())
