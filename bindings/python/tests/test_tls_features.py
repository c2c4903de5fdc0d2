"""Issue 14's TLS features through the binding: Socket.tls_info() and
Socket.peer_certificates() after ready, with the post-quantum group
preferred. Loopback only, port 0, every wait bounded."""

import hashlib
import pathlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest
import unittest.mock

from _bootstrap import REPO  # noqa: F401  (puts sack_tcp on sys.path)

import sack_tcp  # noqa: E402
from test_sack_tcp import WAIT, CertsTestCase  # noqa: E402


@unittest.skipUnless(shutil.which("openssl"), "no openssl CLI")
class TestTlsInfo(CertsTestCase):
    def test_both_sides_see_the_handshake_and_the_peer(self):
        seen = {}
        done = threading.Event()

        def server_ready(conn):
            seen["server"] = conn.tls_info()
            seen["server_chain"] = conn.peer_certificates()
            if "client" in seen:
                done.set()

        def client_ready(s):
            seen["client"] = s.tls_info()
            seen["client_chain"] = s.peer_certificates()
            if "server" in seen:
                done.set()

        server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"),
                                 ca=self.pem("ca.pem"),
                                 client_auth=sack_tcp.SACK_TCP_CLIENT_AUTH_REQUIRE,
                                 on_ready=server_ready)
        client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", ssl=True, host="localhost",
                                  ca=self.pem("ca.pem"), cert=self.pem("client.pem"),
                                  key=self.pem("client.key"), on_ready=client_ready)
        # Both ready callbacks run on runtime threads; the second sets done
        # (dict updates are atomic, so one of them sees the other's entry).
        self.assertTrue(done.wait(WAIT), seen)

        c, s = seen["client"], seen["server"]
        for info in (c, s):
            self.assertEqual(info.protocol, "TLSv1.3")
            self.assertEqual(info.protocol_version, 0x0304)
            self.assertEqual(info.key_exchange_group, "X25519MLKEM768")
            self.assertEqual(info.key_exchange_group_id, 0x11EC)
            self.assertFalse(info.resumed)
            self.assertTrue(info.cipher_suite.startswith("TLS_"))
            self.assertEqual(info.peer_certificate_count, 1)
        self.assertEqual(c.cipher_suite, s.cipher_suite)
        self.assertEqual(s.server_name, "localhost")
        self.assertIsNone(c.server_name)

        self.assertEqual(c.peer_subject, "CN=localhost")
        self.assertEqual(c.peer_sans, ["DNS:localhost", "IP:127.0.0.1", "IP:::1"])
        self.assertEqual(s.peer_subject, "CN=client")
        self.assertEqual(s.peer_sans, ["DNS:client.example.com"])

        # The DER is the PEM file's certificate; the fingerprint is its SHA-256.
        for info, chain, name in ((c, seen["client_chain"], "localhost.pem"),
                                  (s, seen["server_chain"], "client.pem")):
            der = ssl.PEM_cert_to_DER_cert(self.pem(name))
            self.assertEqual(chain, [der])
            self.assertEqual(info.peer_sha256, hashlib.sha256(der).digest())
            self.assertLess(info.peer_not_before, info.peer_not_after)

        client.close()
        self.assertTrue(client.wait_closed(WAIT))
        with self.assertRaises(sack_tcp.Error) as cm:
            client.tls_info()
        self.assertIn(cm.exception.code, (sack_tcp.SACK_TCP_ERR_CLOSED,))
        server.close()

    def _resumed(self, port, ca):
        """One client: ready, one echoed message (so the server's session
        tickets have been read), its tls_info().resumed, close."""
        got = {}
        done = threading.Event()

        def on_ready(s):
            s.send(b"ping")

        def on_message(s, data):
            got["resumed"] = s.tls_info().resumed
            s.close()
            done.set()

        client = sack_tcp.connect(f"127.0.0.1:{port}", ssl=True, host="localhost", ca=ca,
                                  on_ready=on_ready, on_message=on_message)
        self.assertTrue(done.wait(WAIT))
        self.assertTrue(client.wait_closed(WAIT))
        return got["resumed"]

    def test_same_settings_resume_and_another_ca_does_not(self):
        server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"),
                                 on_message=lambda conn, data: conn.send(data))
        ca, other = self.pem("ca.pem"), self.pem("ca.pem") + self.pem("other_ca.pem")
        port = server.local_port
        self.assertEqual([self._resumed(port, ca), self._resumed(port, ca),
                          self._resumed(port, other), self._resumed(port, other)],
                         [False, True, False, True])
        server.close()

    def test_demotion_from_the_error_callback(self):
        request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        seen = {"errors": [], "events": [], "data": b""}

        def on_error(conn, code, message, data):
            seen["errors"].append((code, data))
            seen["events"].append("error")
            conn.set_ssl(False)

        def on_ready(conn):
            seen["events"].append("ready")

        def on_message(conn, data):
            seen["events"].append("message")
            seen["data"] += data
            if seen["data"].endswith(b"\r\n\r\n"):
                conn.send(reply)
                conn.close()

        server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"),
                                 on_error=on_error, on_ready=on_ready, on_message=on_message)
        with socket.create_connection(("127.0.0.1", server.local_port), timeout=WAIT) as raw:
            raw.sendall(request)
            got = b""
            while True:
                chunk = raw.recv(4096)
                if not chunk:
                    break
                got += chunk
        self.assertEqual(got, reply)
        self.assertEqual(seen["errors"], [(sack_tcp.SACK_TCP_TLS_HANDSHAKE_FAILED, request)])
        self.assertEqual(seen["events"][:3], ["error", "ready", "message"])
        self.assertEqual(seen["data"], request)
        server.close()

    def test_key_log_lines_from_both_sides(self):
        lines = []
        lock = threading.Lock()

        def on_line(line):
            with lock:
                lines.append(line)

        done = threading.Event()
        server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"),
                                 on_message=lambda conn, data: conn.send(data))
        sack_tcp.set_key_log_callback(on_line)
        try:
            client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", ssl=True,
                                      host="localhost", ca=self.pem("ca.pem"),
                                      on_ready=lambda s: s.send(b"k"),
                                      on_message=lambda s, d: (s.close(), done.set()))
            self.assertTrue(done.wait(WAIT))
            self.assertTrue(client.wait_closed(WAIT))
        finally:
            sack_tcp.set_key_log_callback(None)
        server.close()
        # Client and server derive the same five TLS 1.3 secrets: each line twice.
        self.assertEqual(len(lines), 10, lines)
        for line in set(lines):
            self.assertEqual(lines.count(line), 2, line)
            label, random, secret = line.split(" ")
            self.assertEqual(len(random), 64)
            self.assertTrue(int(secret, 16) >= 0)
        self.assertEqual({line.split(" ")[0] for line in lines},
                         {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                          "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET"})

    def test_policy_options(self):
        seen = {}
        done = threading.Event()
        server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"),
                                 tls_max_version=sack_tcp.SACK_TCP_PROTOCOL_TLS_1_2,
                                 tls_no_resumption=True)

        def on_ready(s):
            seen["info"] = s.tls_info()
            s.close()
            done.set()

        client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", ssl=True, host="localhost",
                                  ca=self.pem("ca.pem"), tls_groups=["secp256r1"],
                                  tls_cipher_suites="TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                  on_ready=on_ready)
        self.assertTrue(done.wait(WAIT))
        self.assertTrue(client.wait_closed(WAIT))
        info = seen["info"]
        self.assertEqual(info.protocol, "TLSv1.2")
        self.assertEqual(info.key_exchange_group, "secp256r1")
        self.assertEqual(info.cipher_suite, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        with self.assertRaises(sack_tcp.Error) as cm:
            sack_tcp.connect("127.0.0.1:1", ssl=True, tls_groups="X448")
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_INVALID_ARGUMENT)
        server.close()

    def _peer_sha256(self, port, ca, host="localhost"):
        got = {}
        done = threading.Event()

        def on_ready(s):
            got["sha"] = s.tls_info().peer_sha256
            s.close()

        def on_close(s):
            done.set()

        sack_tcp.connect(f"127.0.0.1:{port}", ssl=True, host=host, ca=ca,
                         tls_no_resumption=True, on_ready=on_ready, on_close=on_close)
        self.assertTrue(done.wait(WAIT))
        return got.get("sha")

    def test_reload_and_remove_cert(self):
        ca = self.pem("ca.pem") + self.pem("other_ca.pem")
        server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"))
        der = {name: ssl.PEM_cert_to_DER_cert(self.pem(name))
               for name in ("localhost.pem", "untrusted.pem", "a.example.com.pem")}
        sha = {name: hashlib.sha256(d).digest() for name, d in der.items()}
        self.assertEqual(self._peer_sha256(server.local_port, ca), sha["localhost.pem"])
        server.reload_tls(cert=self.pem("untrusted.pem"), key=self.pem("untrusted.key"),
                          hosts=[("a.example.com", self.pem("a.example.com.pem"),
                                  self.pem("a.example.com.key"))])
        self.assertEqual(self._peer_sha256(server.local_port, ca), sha["untrusted.pem"])
        self.assertEqual(self._peer_sha256(server.local_port, ca, "a.example.com"),
                         sha["a.example.com.pem"])
        self.assertEqual(server.remove_cert("a.example.com"), 1)
        # Unknown now: the default certificate, which does not cover the name.
        self.assertIsNone(self._peer_sha256(server.local_port, ca, "a.example.com"))
        with self.assertRaises(sack_tcp.Error) as cm:
            server.reload_tls(cert="not a pem", key="not a pem")
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_BAD_PEM)
        self.assertEqual(self._peer_sha256(server.local_port, ca), sha["untrusted.pem"])
        server.close()

    def test_expiry_warning_and_getter(self):
        records = []
        sack_tcp.set_log_callback(lambda level, target, message: records.append((target, message)),
                                  sack_tcp.SACK_TCP_LOG_WARN)
        try:
            server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"),
                                     tls_expiry_warning_days=60)
        finally:
            sack_tcp.set_log_callback(None)
        self.assertTrue(any(t == "sack_tcp::tls::expiry" and "CN=localhost" in m
                            for t, m in records), records)
        decoded = ssl._ssl._test_decode_cert(str(self.dir / "localhost.pem"))
        self.assertEqual(server.cert_expiry, ssl.cert_time_to_seconds(decoded["notAfter"]))
        server.close()

    def test_crl_revokes_the_server_certificate(self):
        with tempfile.TemporaryDirectory() as d:
            d = pathlib.Path(d)
            (d / "ca.cnf").write_text(f"[ca]\ndefault_ca = d\n[d]\ndatabase = {d}/index.txt\n"
                                      f"crlnumber = {d}/crlnumber\ndefault_md = sha256\n"
                                      "default_crl_days = 30\n")
            (d / "index.txt").write_text("")
            (d / "crlnumber").write_text("1000\n")
            ca_args = ["-config", str(d / "ca.cnf"), "-keyfile", str(self.dir / "ca.key"),
                       "-cert", str(self.dir / "ca.pem")]
            subprocess.run(["openssl", "ca", *ca_args, "-revoke", str(self.dir / "localhost.pem")],
                           check=True, capture_output=True, timeout=60)
            subprocess.run(["openssl", "ca", *ca_args, "-gencrl", "-out", str(d / "crl.pem")],
                           check=True, capture_output=True, timeout=60)
            crl = (d / "crl.pem").read_text()
        errors = []
        server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"))
        client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", ssl=True, host="localhost",
                                  ca=self.pem("ca.pem"), crl=crl,
                                  on_error=lambda s, code, msg, data: errors.append(code))
        self.assertTrue(client.wait_closed(WAIT))
        self.assertEqual(errors, [sack_tcp.SACK_TCP_TLS_REVOKED])
        server.close()

    def test_verify_callback_pins_the_server(self):
        server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"))
        self.addCleanup(server.close)
        der = subprocess.run(["openssl", "x509", "-in", str(self.dir / "localhost.pem"),
                              "-outform", "DER"], check=True, capture_output=True,
                             timeout=60).stdout
        seen = []

        def record(chain):
            seen.append(chain)
            return True

        def attempt(verify):
            errors, ready, settled = [], [], threading.Event()

            def on_error(s, code, msg, data):
                errors.append(code)
                settled.set()

            client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", ssl=True,
                                      host="localhost", ca=self.pem("ca.pem"), tls_verify=verify,
                                      on_ready=lambda s: (ready.append(s), settled.set()),
                                      on_error=on_error, on_close=lambda s: settled.set())
            self.assertTrue(settled.wait(WAIT))
            client.close()
            self.assertTrue(client.wait_closed(WAIT))
            return bool(ready), errors

        ok, errors = attempt(record)
        self.assertTrue(ok, errors)
        self.assertEqual(len(seen), 1)
        self.assertEqual(seen[0].certs[0], der)
        self.assertEqual(seen[0].server_name, "localhost")
        self.assertEqual(seen[0].leaf_sha256, hashlib.sha256(der).digest())
        self.assertEqual(len(seen[0].leaf_spki_sha256), 32)

        def reject(chain):
            return chain.leaf_sha256 == b"\0" * 32

        ok, errors = attempt(reject)
        self.assertFalse(ok)
        self.assertEqual(errors, [sack_tcp.SACK_TCP_TLS_REJECTED])

        def broken(chain):
            raise RuntimeError("a bug in the callback rejects")

        with unittest.mock.patch("sys.unraisablehook"):
            ok, errors = attempt(broken)
        self.assertFalse(ok)
        self.assertEqual(errors, [sack_tcp.SACK_TCP_TLS_REJECTED])

    def test_client_hello_callback_adds_a_certificate_or_rejects(self):
        seen, holder = [], {}

        def on_hello(name, alpn):
            seen.append((name, alpn))
            if name == "b.example.com" and not holder.get("added"):
                holder["listener"].add_cert("b.example.com", self.pem("b.example.com.pem"),
                                            self.pem("b.example.com.key"))
                holder["added"] = True
            return name != "evil.example.com"

        errors, rejected = [], threading.Event()

        def on_error(sock, code, msg, data):
            errors.append(code)
            if code == sack_tcp.SACK_TCP_TLS_REJECTED:
                rejected.set()

        server = sack_tcp.listen(cert=self.pem("a.example.com.pem"),
                                 key=self.pem("a.example.com.key"), tls_client_hello=on_hello,
                                 on_error=on_error)
        holder["listener"] = server
        self.addCleanup(server.close)

        def attempt(host):
            ready, settled = [], threading.Event()
            client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", ssl=True, host=host,
                                      ca=self.pem("ca.pem"), alpn=["h2"],
                                      on_ready=lambda s: (ready.append(s.tls_info()),
                                                          settled.set()),
                                      on_close=lambda s: settled.set())
            self.assertTrue(settled.wait(WAIT))
            client.close()
            self.assertTrue(client.wait_closed(WAIT))
            return ready

        ready = attempt("b.example.com")
        self.assertEqual(len(ready), 1)
        self.assertIn("b.example.com", ready[0].peer_subject)
        self.assertEqual(seen, [("b.example.com", [b"h2"])])
        self.assertEqual(attempt("evil.example.com"), [])
        self.assertTrue(rejected.wait(WAIT), errors)

    def test_plain_and_listener_are_not_applicable(self):
        server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"))
        with self.assertRaises(sack_tcp.Error) as cm:
            server.tls_info()
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_NOT_APPLICABLE)
        with self.assertRaises(sack_tcp.Error) as cm:
            server.peer_certificates()
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_NOT_APPLICABLE)
        server.close()


if __name__ == "__main__":
    unittest.main()
