"""Tests for the sack_tcp Python binding. Loopback only, port 0, every wait
bounded (threading.Condition/Event with timeouts, never sleeps).

Run from the repository root:
    python3 -m unittest discover -s bindings/python/tests -v
"""

import ctypes
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

from _bootstrap import CHILD_CWD, HERE, PY_ROOT, REPO  # noqa: E402,F401  (puts sack_tcp on sys.path)

import sack_tcp  # noqa: E402
from sack_tcp import _ffi  # noqa: E402

WAIT = 10.0  # seconds, for any single wait


class Recorder:
    """Events from callbacks (any thread), waitable with a deadline."""

    def __init__(self):
        self.cond = threading.Condition()
        self.events = []

    def add(self, *event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, predicate, timeout=WAIT):
        with self.cond:
            ok = self.cond.wait_for(lambda: predicate(self.events), timeout)
            if not ok:
                raise AssertionError(f"timed out after {timeout}s; events so far: {self.events!r}")
            return list(self.events)

    def kinds(self, who=None):
        with self.cond:
            return [e[1] for e in self.events if who is None or e[0] == who]

    def data(self, who):
        with self.cond:
            parts = [e[2] for e in self.events if e[0] == who and e[1] == "message"]
        if not parts:
            return b""
        return ("" if isinstance(parts[0], str) else b"").join(parts)


def recording(rec, who, **extra):
    """Callbacks that record (who, event, ...) and then call extra[event]."""

    def wrap(event, record):
        def cb(*args):
            rec.add(who, event, *record(*args))
            if extra.get(event):
                extra[event](*args)
        return cb

    return dict(
        on_connect=wrap("connect", lambda s, status: (status,)),
        on_ready=wrap("ready", lambda s: ()),
        on_message=wrap("message", lambda s, d: (d,)),
        on_close=wrap("close", lambda s: ()),
        on_error=wrap("error", lambda s, code, msg, data: (code, msg, data)),
        on_drain=wrap("drain", lambda s: ()),
    )


def squash(kinds):
    """Collapse runs of 'message' (data may arrive in several chunks)."""
    out = []
    for k in kinds:
        if not (out and k == "message" and out[-1] == "message"):
            out.append(k)
    return out


def echo(conn, data):
    conn.send(data)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SackTcpTestCase(unittest.TestCase):
    """Every test ends with shutdown() (bounded, so a deadlock fails instead
    of hanging) and live_handles() == 0, and fails on any exception a
    callback raised unless the test expected it."""

    expect_callback_errors = False

    def setUp(self):
        self.callback_exceptions = []
        self._old_hook = sys.unraisablehook
        sys.unraisablehook = lambda args: self.callback_exceptions.append(args.exc_value)

    def tearDown(self):
        try:
            bounded_shutdown(self)
            self.assertEqual(sack_tcp.live_handles(), 0)
        finally:
            sys.unraisablehook = self._old_hook
        if not self.expect_callback_errors and self.callback_exceptions:
            raise AssertionError(f"callbacks raised: {self.callback_exceptions!r}") \
                from self.callback_exceptions[0]


def bounded_shutdown(test, timeout=WAIT + 5):
    result = {}

    def run():
        try:
            sack_tcp.shutdown()
            result["ok"] = True
        except BaseException as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        test.fail(f"sack_tcp.shutdown() did not return within {timeout}s (deadlock?)")
    if "error" in result:
        raise result["error"]


class TestLayout(SackTcpTestCase):
    def test_struct_size_matches_library(self):
        self.assertEqual(_ffi.options_init().struct_size, ctypes.sizeof(_ffi.sack_tcp_options))
        self.assertEqual(_ffi.runtime_options_init().struct_size,
                         ctypes.sizeof(_ffi.sack_tcp_runtime_options))

    @unittest.skipUnless(shutil.which("cc"), "no C compiler")
    def test_offsets_match_header(self):
        """Compile the header and compare every field's offset and every
        struct's size with the ctypes declarations."""
        structs = (_ffi.sack_tcp_options, _ffi.sack_tcp_tls_host, _ffi.sack_tcp_runtime_options)
        lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "sack_tcp.h"',
                 "int main(void) {"]
        expected = []
        for s in structs:
            lines.append(f'printf("%zu\\n", sizeof({s.__name__}));')
            expected.append((f"sizeof({s.__name__})", ctypes.sizeof(s)))
            for name, _ in s._fields_:
                lines.append(f'printf("%zu\\n", offsetof({s.__name__}, {name}));')
                expected.append((f"{s.__name__}.{name}", getattr(s, name).offset))
        lines.append("return 0; }")
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "layout.c")
            exe = os.path.join(d, "layout")
            with open(src, "w") as f:
                f.write("\n".join(lines))
            subprocess.run(["cc", "-std=c11", "-I", str(REPO / "include"), src, "-o", exe],
                           check=True, timeout=60)
            got = subprocess.run([exe], check=True, capture_output=True, text=True,
                                 timeout=30).stdout.split()
        self.assertEqual(len(got), len(expected))
        for (what, ours), theirs in zip(expected, got):
            self.assertEqual(ours, int(theirs), what)

    def test_constants_have_the_library_names(self):
        for name, value in _ffi.CONSTANTS.items():
            if name.startswith(("SACK_TCP_ERR_", "SACK_TCP_TLS_")) or name == "SACK_TCP_OK":
                self.assertEqual(sack_tcp.error_name(value), name)

    def test_bad_library_path_is_an_import_error(self):
        env = dict(os.environ, SACK_TCP_LIB="/nonexistent/libsack_tcp.so")
        r = subprocess.run([sys.executable, "-c", "import sack_tcp"], cwd=CHILD_CWD, env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("LibraryNotFoundError", r.stderr)
        env["SACK_TCP_LIB"] = _ffi.library_path
        r = subprocess.run([sys.executable, "-c",
                            "import sack_tcp, sys; sys.exit(sack_tcp.live_handles())"],
                           cwd=CHILD_CWD, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)


class TestPlain(SackTcpTestCase):
    def test_echo_and_event_order(self):
        rec = Recorder()
        accepted = []

        def srv_connect(conn, status):
            accepted.append(conn)

        server = sack_tcp.listen("127.0.0.1", 0,
                                 **recording(rec, "server", connect=srv_connect, message=echo))
        port = server.local_port
        self.assertGreater(port, 0)
        self.assertEqual(server.ports, [port])
        self.assertEqual(server.local_address, "127.0.0.1")
        self.assertTrue(server.is_listener)

        addresses = {}

        def on_ready(s):
            addresses["remote"] = (s.remote_address, s.remote_port)
            addresses["local"] = (s.local_address, s.local_port)
            s.send(b"hello")

        def on_message(s, data):
            if rec.data("client") == b"hello":
                s.close()

        client = sack_tcp.connect(f"127.0.0.1:{port}",
                                  **recording(rec, "client", ready=on_ready, message=on_message))
        self.assertTrue(client.wait_closed(WAIT))
        self.assertEqual(squash(rec.kinds("client")), ["connect", "ready", "message", "close"])
        self.assertEqual(next(e for e in rec.events if e[0] == "client"),
                         ("client", "connect", 0))
        self.assertEqual(rec.data("client"), b"hello")
        self.assertEqual(addresses["remote"], ("127.0.0.1", port))
        self.assertEqual(addresses["local"][0], "127.0.0.1")
        self.assertTrue(client.closed)

        # The accepted connection: its own Socket, the listener's callbacks.
        rec.wait(lambda ev: sum(1 for e in ev if e[0] == "server" and e[1] == "close") == 1)
        self.assertEqual(len(accepted), 1)
        conn = accepted[0]
        self.assertEqual(conn.kind, "accepted")
        self.assertIs(conn.server, server)
        self.assertTrue(conn.wait_closed(WAIT))
        self.assertEqual(squash(rec.kinds("server")), ["connect", "ready", "message", "close"])
        self.assertFalse(server.closed)

        # After close the handle is released: calls raise ERR_CLOSED, close is harmless.
        with self.assertRaises(sack_tcp.Error) as cm:
            client.send(b"late")
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_CLOSED)
        client.close()
        server.close()
        self.assertTrue(server.wait_closed(WAIT))

    def test_send_on_listener_is_not_applicable(self):
        server = sack_tcp.listen()
        with self.assertRaises(sack_tcp.Error) as cm:
            server.send(b"x")
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_NOT_APPLICABLE)
        self.assertEqual(cm.exception.name, "SACK_TCP_ERR_NOT_APPLICABLE")

    def test_send_queue_limit(self):
        rec = Recorder()
        server = sack_tcp.listen(on_message=echo)
        client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", send_queue_limit=64,
                                  **recording(rec, "client"))
        rec.wait(lambda ev: ("client", "ready") in [e[:2] for e in ev])
        self.assertEqual(client.queued_bytes, 0)
        with self.assertRaises(sack_tcp.Error) as cm:
            client.send(b"x" * 65)
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_QUEUE_FULL)
        client.send(b"y" * 64)
        rec.wait(lambda ev: rec.data("client") == b"y" * 64)

    def test_context_manager_and_abort(self):
        rec = Recorder()
        with sack_tcp.listen(**recording(rec, "server")) as server:
            client = sack_tcp.connect(("127.0.0.1", server.local_port), **recording(rec, "client"))
            rec.wait(lambda ev: ("client", "ready") in [e[:2] for e in ev]
                     and ("server", "ready") in [e[:2] for e in ev])
            client.abort()
            self.assertTrue(client.wait_closed(WAIT))
            # The peer sees the reset: error(RESET) then close.
            rec.wait(lambda ev: ("server", "close") in [e[:2] for e in ev])
            self.assertIn(("server", "error", sack_tcp.SACK_TCP_ERR_RESET),
                          [e[:3] for e in rec.events])
        self.assertTrue(server.wait_closed(WAIT))


class TestBorrowed(SackTcpTestCase):
    def test_borrowed_sends_keep_order_and_complete_once(self):
        rec = Recorder()
        server = sack_tcp.listen(**recording(rec, "server"))
        client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", **recording(rec, "client"))
        rec.wait(lambda ev: ("client", "ready") in [e[:2] for e in ev])
        big = bytes(range(256)) * (16 << 10)  # 4 MiB
        mutable = bytearray(b"lent bytearray")
        done = []

        def on_done(sock, status):
            rec.add("client", "done", status)

        client.send(b"head")
        client.send_borrowed(big, on_done)
        client.send(b"middle")
        client.send_borrowed(mutable, on_done)
        client.send_borrowed(memoryview(b"read-only view"), on_done)  # copied once
        want = b"head" + big + b"middle" + bytes(mutable) + b"read-only view"
        rec.wait(lambda ev: rec.data("server") == want)
        events = rec.wait(lambda ev: [e[1] for e in ev].count("done") == 3)
        done = [e[2] for e in events if e[1] == "done"]
        self.assertEqual(done, [sack_tcp.SACK_TCP_OK] * 3)
        self.assertEqual(client.callback_errors, [])
        client.close()
        self.assertTrue(client.wait_closed(WAIT))
        with self.assertRaises(sack_tcp.Error) as cm:
            client.send_borrowed(b"late", on_done)
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_CLOSED)
        with self.assertRaises(sack_tcp.Error) as cm:
            server.send_borrowed(b"x", on_done)
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_NOT_APPLICABLE)
        self.assertEqual(rec.kinds("client").count("done"), 3)  # none for refusals
        self.assertEqual(sack_tcp._lent, {})  # no buffer kept past its completion


class TestText(SackTcpTestCase):
    def test_read_strings_delivers_str(self):
        rec = Recorder()
        text = "héllo wörld 😀 " + "😀" * 40 + " end"

        def srv_message(conn, data):
            conn.send(data)  # a str: sent as UTF-8

        server = sack_tcp.listen(read_strings=True, **recording(rec, "server", message=srv_message))
        client = sack_tcp.connect(
            f"127.0.0.1:{server.local_port}", read_strings=True, read_buffer_size=16,
            **recording(rec, "client", ready=lambda s: s.send(text)))
        rec.wait(lambda ev: rec.data("client") == text)
        self.assertTrue(client.read_strings)
        chunks = [e[2] for e in rec.events if e[:2] == ("client", "message")]
        self.assertTrue(all(isinstance(c, str) for c in chunks))
        self.assertGreater(len(chunks), 1)  # 16-byte reads: characters were never split
        self.assertNotIn("\ufffd", "".join(chunks))
        self.assertTrue(all(isinstance(e[2], str) for e in rec.events
                            if e[:2] == ("server", "message")))
        self.assertEqual(rec.data("server"), text)

        # Switching text mode off: bytes from the next read on.
        client.read_strings = False
        self.assertFalse(client.read_strings)
        client.send("\U0001F600!")
        rec.wait(lambda ev: ev[-1][:2] == ("client", "message") and isinstance(ev[-1][2], bytes)
                 and b"".join(e[2] for e in ev if e[:2] == ("client", "message")
                              and isinstance(e[2], bytes)) == "\U0001F600!".encode())


def make_certs(directory):
    subprocess.run(["sh", str(REPO / "c_tests" / "make_certs.sh"), directory], check=True,
                   capture_output=True, timeout=300)


class CertsTestCase(SackTcpTestCase):
    """A test case with the C suite's certificates, made once per class in a
    temporary directory (self.dir; self.pem(name) reads one)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        make_certs(cls.tmp.name)
        cls.dir = pathlib.Path(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def pem(self, name):
        return (self.dir / name).read_text()


@unittest.skipUnless(shutil.which("openssl"), "no openssl CLI")
class TestTls(CertsTestCase):

    def test_tls_echo(self):
        rec = Recorder()
        secure = {}

        def srv_ready(conn):
            secure["server"] = conn.secure

        server = sack_tcp.listen(cert=self.dir / "localhost.pem",  # a path: read by the binding
                                 key=self.pem("localhost.key"), alpn=["h2", "http/1.1"],
                                 **recording(rec, "server", ready=srv_ready, message=echo))

        def on_connect(s, status):
            secure["at_connect"] = s.secure

        def on_ready(s):
            secure["client"] = s.secure
            secure["alpn"] = s.alpn
            s.send(b"hello over tls")

        def on_message(s, data):
            if rec.data("client") == b"hello over tls":
                s.close()

        client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", ssl=True,
                                  ca=self.pem("ca.pem"), alpn="http/1.1",
                                  **recording(rec, "client", connect=on_connect, ready=on_ready,
                                              message=on_message))
        self.assertTrue(client.wait_closed(WAIT))
        self.assertEqual(rec.data("client"), b"hello over tls")
        self.assertEqual(squash(rec.kinds("client")), ["connect", "ready", "message", "close"])
        self.assertEqual(secure, {"at_connect": False, "client": True, "alpn": "http/1.1",
                                  "server": True})

    def test_untrusted_server_gives_tls_error_then_close(self):
        rec = Recorder()
        server = sack_tcp.listen(cert=self.pem("untrusted.pem"), key=self.pem("untrusted.key"))
        client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", ssl=True,
                                  ca=self.pem("ca.pem"), **recording(rec, "client"))
        self.assertTrue(client.wait_closed(WAIT))
        kinds = rec.kinds("client")
        self.assertEqual(kinds, ["connect", "error", "close"])
        error = next(e for e in rec.events if e[1] == "error")
        self.assertEqual(error[2], sack_tcp.SACK_TCP_TLS_UNKNOWN_ISSUER, error)
        self.assertTrue(error[3])  # a message

    def test_add_cert_serves_by_sni(self):
        rec = Recorder()
        server = sack_tcp.listen(cert=self.pem("localhost.pem"), key=self.pem("localhost.key"),
                                 on_message=echo)
        server.add_cert(["added.example.com"], self.pem("added.example.com.pem"),
                        self.pem("added.example.com.key"))
        client = sack_tcp.connect(
            f"127.0.0.1:{server.local_port}", ssl=True, ca=self.pem("ca.pem"),
            host="added.example.com",
            **recording(rec, "client", ready=lambda s: s.send(b"sni")))
        rec.wait(lambda ev: rec.data("client") == b"sni")
        self.assertTrue(client.secure)
        with self.assertRaises(sack_tcp.Error) as cm:
            server.add_cert("x.example.com", "not a pem", "not a pem")
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_BAD_PEM)

    def test_bad_pem_raises_at_open(self):
        with self.assertRaises(sack_tcp.Error) as cm:
            sack_tcp.listen(cert="garbage", key="garbage")
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_BAD_PEM)


class TestConcurrent(SackTcpTestCase):
    def test_five_clients(self):
        n = 5
        rec = Recorder()
        server = sack_tcp.listen(on_message=echo)
        port = server.local_port
        clients = []
        for i in range(n):
            msg = f"client {i} says hi".encode()

            def on_message(s, data, who=i, msg=msg):
                if rec.data(who) == msg:
                    s.close()

            clients.append(sack_tcp.connect(
                f"127.0.0.1:{port}",
                **recording(rec, i, ready=lambda s, m=msg: s.send(m), message=on_message)))
        for c in clients:
            self.assertTrue(c.wait_closed(WAIT))
        for i in range(n):
            self.assertEqual(rec.data(i), f"client {i} says hi".encode())
            self.assertEqual(squash(rec.kinds(i)), ["connect", "ready", "message", "close"])

    def test_send_from_another_thread(self):
        rec = Recorder()
        server = sack_tcp.listen(on_message=echo)
        client = sack_tcp.connect(f"127.0.0.1:{server.local_port}", **recording(rec, "c"))
        rec.wait(lambda ev: ("c", "ready") in [e[:2] for e in ev])
        payload = [bytes([65 + t]) * 1000 for t in range(4)]
        threads = [threading.Thread(target=client.send, args=(p,)) for p in payload]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        rec.wait(lambda ev: len(rec.data("c")) == 4000)
        got = rec.data("c")
        for p in payload:
            self.assertIn(p, got)  # each thread's bytes arrive whole


class TestErrors(SackTcpTestCase):
    def test_connect_refused(self):
        rec = Recorder()
        port = free_port()
        client = sack_tcp.connect(f"127.0.0.1:{port}", **recording(rec, "client"))
        self.assertTrue(client.wait_closed(WAIT))
        self.assertEqual(rec.kinds("client"), ["connect", "close"])
        self.assertEqual(rec.events[0][2], sack_tcp.SACK_TCP_ERR_REFUSED)
        self.assertIsInstance(client.connect_error, sack_tcp.Error)
        self.assertEqual(client.connect_error.code, sack_tcp.SACK_TCP_ERR_REFUSED)
        self.assertEqual(client.connect_error.name, "SACK_TCP_ERR_REFUSED")
        self.assertTrue(client.connect_error.message)

    def test_bad_address_raises(self):
        for make in (lambda: sack_tcp.listen("1.2.3.4.5"),
                     lambda: sack_tcp.listen("[::1"),
                     lambda: sack_tcp.connect("[::1")):
            with self.assertRaises(sack_tcp.Error) as cm:
                make()
            e = cm.exception
            self.assertEqual(e.code, sack_tcp.SACK_TCP_ERR_BAD_ADDRESS)
            self.assertEqual(e.name, "SACK_TCP_ERR_BAD_ADDRESS")
            self.assertIn("bad address", e.message)
            self.assertIn("SACK_TCP_ERR_BAD_ADDRESS", str(e))

    def test_option_errors(self):
        with self.assertRaises(TypeError):
            sack_tcp.listen(no_such_option=1)
        with self.assertRaises(ValueError):
            sack_tcp.listen(keep_alive_ms=-1)
        with self.assertRaises(sack_tcp.Error) as cm:
            sack_tcp.connect("127.0.0.1:1", backlog=5)  # a listener-only option
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_NOT_APPLICABLE)

    def test_address_in_use(self):
        server = sack_tcp.listen()
        with self.assertRaises(sack_tcp.Error) as cm:
            sack_tcp.listen(port=server.local_port)
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_ADDRESS_IN_USE)


class TestLifetime(SackTcpTestCase):
    def test_close_before_open_returns_frees_once(self):
        """The header allows a client's callbacks, close included, before
        sack_tcp_open returns. Force that ordering: hold the return of the
        real sack_tcp_open until the close callback has run, then check the
        handle was used from the callback argument and freed exactly once."""
        real_open = sack_tcp._ffi.sack_tcp_open
        seen = {}

        def slow_open(options, out):
            # Looked up first: once close has run the registry lets go of it
            # (and close may run before the real open even returns).
            sock = sack_tcp._registry[options._obj.user_data]
            rc = real_open(options, out)
            seen["closed_first"] = sock.wait_closed(WAIT)
            seen["pending"] = sock._pending_free
            return rc

        def on_connect(s, status):
            # A call from the callback, before open returned, uses the
            # callback's handle.
            with self.assertRaises(sack_tcp.Error) as cm:
                s.send(b"x")
            seen["send"] = cm.exception.code

        sack_tcp._ffi.sack_tcp_open = slow_open
        try:
            client = sack_tcp.connect(f"127.0.0.1:{free_port()}", on_connect=on_connect)
        finally:
            sack_tcp._ffi.sack_tcp_open = real_open
        self.assertEqual(seen, {"closed_first": True, "pending": True,
                                "send": sack_tcp.SACK_TCP_ERR_CLOSED})
        self.assertTrue(client._freed)
        self.assertIsNone(client._handle)
        self.assertNotIn(client._id, sack_tcp._registry)

    def test_accepted_connection_callbacks_replaced_in_on_connect(self):
        rec = Recorder()

        def srv_connect(conn, status):
            conn.on_message = lambda c, d: c.send(d.upper())
            conn.on_close = lambda c: rec.add("conn", "close")

        server = sack_tcp.listen(on_connect=srv_connect, on_message=echo)
        client = sack_tcp.connect(f"127.0.0.1:{server.local_port}",
                                  **recording(rec, "c", ready=lambda s: s.send(b"shout")))
        rec.wait(lambda ev: rec.data("c") == b"SHOUT")
        client.close()
        rec.wait(lambda ev: ("conn", "close") in ev)
        self.assertTrue(client.wait_closed(WAIT))

    def test_unreferenced_sockets_keep_working_and_are_collected(self):
        import gc
        import weakref
        rec = Recorder()
        refs = []
        server = sack_tcp.listen(on_connect=lambda c, s: refs.append(weakref.ref(c)),
                                 on_message=echo, on_close=lambda c: rec.add("conn", "close"))
        # No reference kept to the client either: the registry holds it until close.
        sack_tcp.connect(f"127.0.0.1:{server.local_port}",
                         **recording(rec, "c", ready=lambda s: s.send(b"ping"),
                                     message=lambda s, d: s.close()))
        rec.wait(lambda ev: ("c", "close") in [e[:2] for e in ev] and ("conn", "close") in ev)
        bounded_shutdown(self)
        gc.collect()
        self.assertEqual(len(refs), 1)
        self.assertIsNone(refs[0]())
        self.assertEqual(sack_tcp._registry, {})


class TestCallbackExceptions(SackTcpTestCase):
    expect_callback_errors = True

    def test_exception_is_kept_and_reported(self):
        rec = Recorder()
        server = sack_tcp.listen(on_message=echo)

        def on_message(s, data):
            if data == b"boom":
                raise ValueError("raised in on_message")
            s.close()

        client = sack_tcp.connect(f"127.0.0.1:{server.local_port}",
                                  **recording(rec, "c", ready=lambda s: s.send(b"boom"),
                                              message=on_message))
        rec.wait(lambda ev: rec.data("c") == b"boom")
        self.assertEqual(len(client.callback_errors), 1)
        self.assertEqual(len(self.callback_exceptions), 1)
        self.assertIsInstance(self.callback_exceptions[0], ValueError)
        # The socket still works after the exception.
        client.send(b"more")
        self.assertTrue(client.wait_closed(WAIT))
        with self.assertRaises(ValueError):
            client.reraise()
        client.reraise()  # nothing left: no-op


class TestRuntime(SackTcpTestCase):
    def test_shutdown_with_open_sockets_runs_python_close_callbacks(self):
        """shutdown() waits for close callbacks, which need the GIL: ctypes
        releases it during the call, so this must not deadlock."""
        rec = Recorder()
        server = sack_tcp.listen(**recording(rec, "server"))
        clients = [sack_tcp.connect(f"127.0.0.1:{server.local_port}", **recording(rec, i))
                   for i in range(3)]
        rec.wait(lambda ev: sum(1 for e in ev if e[0] == "server" and e[1] == "ready") == 3
                 and all((i, "ready") in [e[:2] for e in ev] for i in range(3)))
        bounded_shutdown(self)
        self.assertTrue(server.closed)
        self.assertTrue(all(c.closed for c in clients))
        # listener + 3 accepted connections + 3 clients all got close.
        self.assertEqual(sum(1 for e in rec.events if e[1] == "close"), 7)
        self.assertEqual(sack_tcp.live_handles(), 0)
        # A later open starts a fresh runtime.
        again = sack_tcp.listen()
        self.assertGreater(again.local_port, 0)

    def test_shutdown_from_a_callback_would_deadlock(self):
        rec = Recorder()
        outcome = {}

        def on_connect(s, status):
            try:
                sack_tcp.shutdown()
                outcome["result"] = "returned"
            except sack_tcp.Error as e:
                outcome["result"] = e.code

        client = sack_tcp.connect(f"127.0.0.1:{free_port()}", **recording(rec, "c", connect=on_connect))
        self.assertTrue(client.wait_closed(WAIT))
        self.assertEqual(outcome["result"], sack_tcp.SACK_TCP_ERR_WOULD_DEADLOCK)

    def test_runtime_start(self):
        bounded_shutdown(self)
        sack_tcp.runtime_start(worker_threads=2)
        with self.assertRaises(sack_tcp.Error) as cm:
            sack_tcp.runtime_start(worker_threads=2)
        self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_INVALID_ARGUMENT)
        rec = Recorder()
        server = sack_tcp.listen(on_message=echo)
        sack_tcp.connect(f"127.0.0.1:{server.local_port}",
                         **recording(rec, "c", ready=lambda s: s.send(b"two threads")))
        rec.wait(lambda ev: rec.data("c") == b"two threads")


if __name__ == "__main__":
    unittest.main()
