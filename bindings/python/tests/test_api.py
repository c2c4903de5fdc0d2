"""The parts of the C API added after the first binding: idle_timeout_ms,
queued delivery (dispatch and the event fd, with selectors and asyncio),
the log callback into Python's logging, versions, wait_live_handles, and
flow control (pause/resume, half-close against a Python socket that shuts
its write side). test_sigpipe.py has the reset peer at SIGPIPE's default.

Loopback only, port 0, every wait bounded; nothing sleeps to synchronise.
"""

import asyncio
import logging
import selectors
import socket
import threading
import time
import unittest

import test_sack_tcp as base

import sack_tcp

WAIT = base.WAIT


def refused_port():
    """A loopback port nothing listens on (bound, then closed)."""
    return base.free_port()


class TestOptions(base.SackTcpTestCase):
    def test_idle_timeout_closes_a_silent_connection(self):
        srv = sack_tcp.listen("127.0.0.1", 0, idle_timeout_ms=200)
        with socket.create_connection(("127.0.0.1", srv.local_port), timeout=WAIT) as c:
            c.settimeout(WAIT)
            # The server drops the silent connection: recv sees the end
            # (or the reset), long before WAIT.
            try:
                self.assertEqual(c.recv(1), b"")
            except ConnectionResetError:
                pass
        srv.close()

    def test_idle_timeout_range_is_checked(self):
        with self.assertRaises(ValueError):
            sack_tcp.listen("127.0.0.1", 0, idle_timeout_ms=-1)

    def test_versions(self):
        v = sack_tcp.version()
        major, minor, patch = (int(x) for x in sack_tcp.version_string().split("."))
        self.assertEqual(v, major * 10000 + minor * 100 + patch)
        self.assertEqual(v, sack_tcp.VERSION_NUMBER if hasattr(sack_tcp, "VERSION_NUMBER") else v)

    def test_wait_live_handles(self):
        srv = sack_tcp.listen("127.0.0.1", 0)
        self.assertGreaterEqual(sack_tcp.live_handles(), 1)
        srv.close()
        srv.wait_closed(WAIT)
        self.assertEqual(sack_tcp.wait_live_handles(0, WAIT), 0)


class QueuedTestCase(base.SackTcpTestCase):
    def setUp(self):
        super().setUp()
        sack_tcp.shutdown()  # the lazily started threaded runtime, if any
        sack_tcp.runtime_start(queued=True)

    def tearDown(self):
        super().tearDown()
        # A runtime started lazily after shutdown() keeps the last options
        # given to runtime_start (queued here): put the default back for the
        # tests that follow.
        sack_tcp.runtime_start()
        sack_tcp.shutdown()

    def echo_pair(self, on_client_message):
        srv = sack_tcp.listen("127.0.0.1", 0, on_message=base.echo)
        cli = sack_tcp.connect(f"127.0.0.1:{srv.local_port}",
                               on_ready=lambda s: s.send(b"queued hello"),
                               on_message=on_client_message)
        return srv, cli


class TestQueued(QueuedTestCase):
    def test_dispatch_with_selectors(self):
        got = []
        threads = set()

        def on_message(sock, data):
            threads.add(threading.get_ident())
            got.append(data)

        srv, cli = self.echo_pair(on_message)
        fd = sack_tcp.event_fd()
        self.assertGreaterEqual(fd, 0)
        deadline = time.monotonic() + WAIT
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"".join(got) != b"queued hello":
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, f"no echo through the event fd; got {got!r}")
                if sel.select(left):
                    sack_tcp.dispatch()
        # Every callback ran here, on the thread that dispatched.
        self.assertEqual(threads, {threading.get_ident()})
        cli.close()
        srv.close()

    def test_dispatch_with_asyncio(self):
        loop = asyncio.new_event_loop()
        try:
            done = loop.create_future()

            def on_message(sock, data):
                self.assertIs(asyncio.get_event_loop(), loop)
                if not done.done():
                    done.set_result(data)

            srv, cli = self.echo_pair(on_message)
            sack_tcp.attach_asyncio(loop)
            data = loop.run_until_complete(asyncio.wait_for(done, WAIT))
            self.assertEqual(data, b"queued hello")
            sack_tcp.detach_asyncio(loop)
            cli.close()
            srv.close()
        finally:
            loop.close()

    def test_nothing_runs_without_dispatch(self):
        got = []
        srv, cli = self.echo_pair(lambda s, d: got.append(d))
        fd = sack_tcp.event_fd()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            self.assertTrue(sel.select(WAIT), "the event fd never became readable")
        self.assertEqual(got, [])  # events wait for dispatch()
        self.assertGreaterEqual(sack_tcp.dispatch(1), 1)
        cli.close()
        srv.close()


class TestThreadedDispatch(base.SackTcpTestCase):
    def test_dispatch_is_not_applicable_in_threaded_mode(self):
        srv = sack_tcp.listen("127.0.0.1", 0)
        with self.assertRaises(sack_tcp.Error) as cm:
            sack_tcp.dispatch()
        self.assertEqual(cm.exception.code, sack_tcp.ERR_NOT_APPLICABLE)
        with self.assertRaises(sack_tcp.Error):
            sack_tcp.event_fd()
        srv.close()


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(level=1)
        self.records = []
        self.refused = threading.Event()

    def emit(self, record):
        self.records.append(record)
        if "refused" in record.getMessage().lower():
            self.refused.set()


class TestLogging(base.SackTcpTestCase):
    def test_records_reach_python_logging(self):
        logger = logging.getLogger("sack_tcp_test_logging")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        handler = _Collect()
        logger.addHandler(handler)
        try:
            sack_tcp.log_to_logging(logger)
            closed = threading.Event()
            cli = sack_tcp.connect(f"127.0.0.1:{refused_port()}", on_close=lambda s: closed.set())
            self.assertTrue(closed.wait(WAIT))
            self.assertTrue(handler.refused.wait(WAIT),
                            f"no record about the refused connect: {handler.records!r}")
            names = {r.name for r in handler.records}
            self.assertTrue(all(n.startswith("sack_tcp_test_logging") for n in names), names)
            self.assertTrue(any(r.levelno == logging.DEBUG for r in handler.records))
            del cli
        finally:
            sack_tcp.set_log_callback(None)
            logger.removeHandler(handler)
        # Off: nothing more arrives.
        count = len(handler.records)
        closed = threading.Event()
        sack_tcp.connect(f"127.0.0.1:{refused_port()}", on_close=lambda s: closed.set())
        self.assertTrue(closed.wait(WAIT))
        self.assertEqual(len(handler.records), count)

    def test_bad_level_is_an_error(self):
        with self.assertRaises(sack_tcp.Error):
            sack_tcp.set_log_callback(lambda *a: None, 9)
        sack_tcp.set_log_callback(None)


class TestFlowControl(base.SackTcpTestCase):
    def accept_one(self, **options):
        accepted, ready = [], threading.Event()

        def on_connect(conn, status):
            accepted.append(conn)
            ready.set()

        srv = sack_tcp.listen("127.0.0.1", 0, on_connect=on_connect, **options)
        peer = socket.create_connection(("127.0.0.1", srv.local_port), timeout=WAIT)
        peer.settimeout(WAIT)
        self.assertTrue(ready.wait(WAIT))
        return srv, accepted[0], peer

    def test_half_open_answers_after_the_peers_fin(self):
        ended, got = threading.Event(), []
        srv, conn, peer = self.accept_one(allow_half_open=True,
                                          on_message=lambda s, d: got.append(d),
                                          on_end=lambda s: ended.set())
        with peer:
            peer.sendall(b"question")
            peer.shutdown(socket.SHUT_WR)
            self.assertTrue(ended.wait(WAIT))
            self.assertEqual(b"".join(got), b"question")
            conn.send(b"answer")  # from this thread, after the peer's FIN
            conn.end()
            with self.assertRaises(sack_tcp.Error) as cm:
                conn.send(b"late")
            self.assertEqual(cm.exception.code, sack_tcp.SACK_TCP_ERR_CLOSED)
            reply = b""
            while True:
                chunk = peer.recv(100)
                if not chunk:
                    break
                reply += chunk
            self.assertEqual(reply, b"answer")
        self.assertTrue(conn.wait_closed(WAIT))
        srv.close()

    def test_pause_holds_reads_until_resume(self):
        got, lock = [], threading.Lock()

        def on_message(s, d):
            with lock:
                got.append(d)

        srv, conn, peer = self.accept_one(on_message=on_message)
        conn.pause()
        total = 32 << 20
        data = bytes(range(256)) * (total // 256)
        sent = 0
        with peer:
            peer.setblocking(False)
            try:
                while sent < total:
                    sent += peer.send(data[sent:sent + 65536])
            except BlockingIOError:
                pass  # the paused side stopped reading: the window closed
            self.assertLess(sent, total)
            with lock:
                self.assertEqual(got, [])
            conn.resume()
            peer.settimeout(WAIT)
            peer.sendall(data[sent:])
            peer.shutdown(socket.SHUT_WR)
            self.assertTrue(conn.wait_closed(WAIT))
        with lock:
            self.assertEqual(b"".join(got), data)
        srv.close()


if __name__ == "__main__":
    unittest.main()
