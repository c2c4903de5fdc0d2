"""Issue 15's network features through the binding: keepalive timing and
the user timeout at open and on a live connection, no_delay changed live,
and the connection's descriptor (read back with getsockopt on a dup).

Loopback only, port 0, every wait bounded; nothing sleeps to synchronise.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
import unittest

import test_sack_tcp as base

import sack_tcp
from sack_tcp import _ffi

WAIT = base.WAIT
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


def sockopt(sock, level, name):
    with socket.socket(fileno=os.dup(sock.fd)) as s:
        return s.getsockopt(level, name)


class NetTestCase(base.SackTcpTestCase):
    def pair(self, server_options=None, client_options=None):
        """A listener, a client to it, and the accepted connection."""
        accepted = []
        ready = threading.Event()

        def on_connect(conn, status):
            accepted.append(conn)

        def on_ready(conn):
            ready.set()

        srv = sack_tcp.listen("127.0.0.1", 0, on_connect=on_connect, on_ready=on_ready,
                              **(server_options or {}))
        cli_ready = threading.Event()
        cli = sack_tcp.connect(f"127.0.0.1:{srv.local_port}", on_ready=lambda s: cli_ready.set(),
                               **(client_options or {}))
        self.assertTrue(cli_ready.wait(WAIT) and ready.wait(WAIT))
        self.addCleanup(srv.close)
        self.addCleanup(cli.close)
        self.addCleanup(lambda: [c.close() for c in accepted])
        return srv, cli, accepted[0]


@unittest.skipUnless(hasattr(socket, "TCP_KEEPIDLE"), "Linux socket options")
class TestDeadPeers(NetTestCase):
    def test_options_at_open_reach_both_sides(self):
        _srv, cli, conn = self.pair(
            dict(keep_alive_ms=7000, keep_alive_interval_ms=3000, keep_alive_count=4,
                 user_timeout_ms=1500),
            dict(keep_alive_ms=11000, keep_alive_interval_ms=2000, keep_alive_count=6,
                 user_timeout_ms=2200))
        for sock, idle, intvl, cnt, ut in ((conn, 7, 3, 4, 1500), (cli, 11, 2, 6, 2200)):
            self.assertEqual(sockopt(sock, socket.SOL_SOCKET, socket.SO_KEEPALIVE), 1)
            self.assertEqual(sockopt(sock, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), idle)
            self.assertEqual(sockopt(sock, socket.IPPROTO_TCP, socket.TCP_KEEPINTVL), intvl)
            self.assertEqual(sockopt(sock, socket.IPPROTO_TCP, socket.TCP_KEEPCNT), cnt)
            self.assertEqual(sockopt(sock, socket.IPPROTO_TCP, TCP_USER_TIMEOUT), ut)

    def test_interval_without_idle_is_refused(self):
        with self.assertRaises(sack_tcp.Error) as e:
            sack_tcp.listen("127.0.0.1", 0, keep_alive_count=3)
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_INVALID_ARGUMENT)

    def test_live_changes(self):
        srv, cli, _conn = self.pair()
        cli.set_no_delay(False)
        self.assertEqual(sockopt(cli, socket.IPPROTO_TCP, socket.TCP_NODELAY), 0)
        cli.set_keep_alive(5000, 1000, 3)
        self.assertEqual(sockopt(cli, socket.SOL_SOCKET, socket.SO_KEEPALIVE), 1)
        self.assertEqual(sockopt(cli, socket.IPPROTO_TCP, socket.TCP_KEEPIDLE), 5)
        self.assertEqual(sockopt(cli, socket.IPPROTO_TCP, socket.TCP_KEEPINTVL), 1)
        self.assertEqual(sockopt(cli, socket.IPPROTO_TCP, socket.TCP_KEEPCNT), 3)
        cli.set_keep_alive(0)
        self.assertEqual(sockopt(cli, socket.SOL_SOCKET, socket.SO_KEEPALIVE), 0)
        cli.set_user_timeout(700)
        self.assertEqual(sockopt(cli, socket.IPPROTO_TCP, TCP_USER_TIMEOUT), 700)
        with self.assertRaises(sack_tcp.Error) as e:
            cli.set_keep_alive(0, 1000)
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_INVALID_ARGUMENT)
        with self.assertRaises(ValueError):
            cli.set_user_timeout(-1)
        for call in (lambda: srv.set_no_delay(True), lambda: srv.fd,
                     lambda: srv.set_keep_alive(1000), lambda: srv.set_user_timeout(5)):
            with self.assertRaises(sack_tcp.Error) as e:
                call()
            self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_NOT_APPLICABLE)
        cli.close()
        self.assertTrue(cli.wait_closed(WAIT))
        with self.assertRaises(sack_tcp.Error) as e:
            cli.set_no_delay(True)
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_CLOSED)

    def test_idle_timeout_switched_on_live(self):
        _srv, cli, _conn = self.pair()
        errors = []
        cli.on_error = lambda s, code, message, data: errors.append(code)
        cli.set_idle_timeout(200)
        self.assertTrue(cli.wait_closed(WAIT))
        self.assertEqual(errors, [_ffi.SACK_TCP_ERR_TIMED_OUT])


class TestStats(NetTestCase):
    def test_bytes_time_and_rtt_and_frozen_in_on_close(self):
        srv_msgs = []
        got = threading.Event()
        closed_stats = []

        def echo(conn, data):
            srv_msgs.append(len(data))
            conn.send(data)

        _srv, cli, conn = self.pair(dict(on_message=echo))
        received = []

        def on_message(s, data):
            received.append(len(data))
            if sum(received) == 50000:
                got.set()

        cli.on_message = on_message
        cli.on_close = lambda s: closed_stats.append(s.stats)
        cli.send(b"y" * 50000)
        self.assertTrue(got.wait(WAIT))
        st = cli.stats
        self.assertEqual(st["bytes_sent"], 50000)
        self.assertEqual(st["bytes_received"], 50000)
        self.assertGreaterEqual(st["connected_ms"], 0)
        if hasattr(socket, "TCP_INFO"):
            self.assertGreater(st["rtt_us"], 0)
            self.assertEqual(st["retransmits"], 0)
        with self.assertRaises(sack_tcp.Error) as e:
            _srv.stats
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_NOT_APPLICABLE)
        cli.close()
        self.assertTrue(cli.wait_closed(WAIT))
        self.assertEqual(len(closed_stats), 1)
        self.assertEqual(closed_stats[0]["bytes_sent"], 50000)
        self.assertEqual(closed_stats[0]["bytes_received"], 50000)


class TestConnectionCap(NetTestCase):
    def test_past_the_cap_a_client_is_reset_and_the_count_follows(self):
        accepted = []
        cond = threading.Condition()

        def on_connect(conn, status):
            with cond:
                accepted.append(conn)
                cond.notify_all()

        def on_close(conn):
            with cond:
                cond.notify_all()

        srv = sack_tcp.listen("127.0.0.1", 0, max_connections=1, on_connect=on_connect,
                              on_close=on_close)
        self.addCleanup(srv.close)
        first = socket.create_connection(("127.0.0.1", srv.local_port), timeout=WAIT)
        self.addCleanup(first.close)
        with cond:
            self.assertTrue(cond.wait_for(lambda: len(accepted) == 1, WAIT))
        self.assertEqual(srv.connection_count, 1)
        # The reset may already be there when connect() looks (Python's
        # connect with a timeout polls), or come at the first recv.
        with self.assertRaises(ConnectionResetError):
            with socket.create_connection(("127.0.0.1", srv.local_port), timeout=WAIT) as second:
                second.recv(1)
        self.assertEqual(srv.connection_count, 1)
        self.assertEqual(len(accepted), 1)
        srv.set_max_connections(0)
        with socket.create_connection(("127.0.0.1", srv.local_port), timeout=WAIT) as third:
            with cond:
                self.assertTrue(cond.wait_for(lambda: len(accepted) == 2, WAIT))
            self.assertEqual(srv.connection_count, 2)
        with self.assertRaises(sack_tcp.Error) as e:
            accepted[0].connection_count
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_NOT_APPLICABLE)
        with self.assertRaises(sack_tcp.Error) as e:
            sack_tcp.connect(f"127.0.0.1:{srv.local_port}", max_connections=2)
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_NOT_APPLICABLE)
        for c in accepted:
            c.close()


class TestHappyEyeballs(NetTestCase):
    # The race itself is tested in Rust with a substituted resolver
    # (tests/core.rs); here, the option reaches the library.
    def test_delay_option_on_a_client_and_refused_on_a_server(self):
        _srv, cli, _conn = self.pair(client_options=dict(happy_eyeballs_delay_ms=100))
        self.assertTrue(cli.remote_address.startswith("127.0.0.1"))
        with self.assertRaises(sack_tcp.Error) as e:
            sack_tcp.listen("127.0.0.1", 0, happy_eyeballs_delay_ms=100)
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_NOT_APPLICABLE)


class TestDescriptors(NetTestCase):
    def test_listen_on_a_socket_python_bound(self):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        port = ls.getsockname()[1]
        srv = sack_tcp.listen_fd(ls, on_message=base.echo)
        self.addCleanup(srv.close)
        self.assertEqual(ls.fileno(), -1)  # detached: the library owns it
        self.assertEqual(srv.local_port, port)
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as c:
            c.sendall(b"from systemd")
            got = b""
            while len(got) < 12:
                got += c.recv(64)
            self.assertEqual(got, b"from systemd")

    def test_refused_descriptor_stays_yours(self):
        s = socket.socket()
        self.addCleanup(s.close)
        with self.assertRaises(sack_tcp.Error) as e:
            sack_tcp.listen_fd(s)
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_INVALID_ARGUMENT)
        self.assertNotEqual(s.fileno(), -1)
        with self.assertRaises(sack_tcp.Error) as e:
            sack_tcp.adopt_fd(s)
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_INVALID_ARGUMENT)

    def test_adopt_a_connected_socket(self):
        with socket.socket() as ls:
            ls.bind(("127.0.0.1", 0))
            ls.listen(1)
            peer = socket.create_connection(ls.getsockname(), timeout=WAIT)
            self.addCleanup(peer.close)
            mine, _ = ls.accept()
        got = threading.Event()
        data = []

        def on_message(s, d):
            data.append(d)
            got.set()

        conn = sack_tcp.adopt_fd(mine, on_message=on_message)
        self.addCleanup(conn.close)
        self.assertEqual(conn.remote_port, peer.getsockname()[1])
        conn.send(b"adopted")
        self.assertEqual(peer.recv(16), b"adopted")
        peer.sendall(b"back")
        self.assertTrue(got.wait(WAIT))
        self.assertEqual(b"".join(data), b"back")


class TestProxyProtocol(NetTestCase):
    def test_v1_header_names_the_client_and_a_missing_one_is_an_error(self):
        accepted = []
        errors = []
        cond = threading.Condition()

        def on_connect(conn, status):
            with cond:
                accepted.append(conn)
                cond.notify_all()

        def on_error(sock, code, message, data):
            with cond:
                errors.append((code, message))
                cond.notify_all()

        srv = sack_tcp.listen("127.0.0.1", 0, proxy_protocol=True, on_message=base.echo,
                              on_connect=on_connect, on_error=on_error)
        self.addCleanup(srv.close)
        with socket.create_connection(("127.0.0.1", srv.local_port), timeout=WAIT) as c:
            c.sendall(b"PROXY TCP6 2001:db8::9 2001:db8::1 4242 443\r\nping")
            self.assertEqual(c.recv(4), b"ping")
            with cond:
                self.assertTrue(cond.wait_for(lambda: accepted, WAIT))
            self.assertEqual(accepted[0].remote_address, "2001:db8::9")
            self.assertEqual(accepted[0].remote_port, 4242)
        with socket.create_connection(("127.0.0.1", srv.local_port), timeout=WAIT) as c:
            c.sendall(b"hello, no header\r\n")
            with cond:
                self.assertTrue(cond.wait_for(lambda: errors, WAIT))
        self.assertEqual(errors[0][0], _ffi.SACK_TCP_ERR_PROXY_HEADER)
        self.assertIn("PROXY", errors[0][1])
        for conn in accepted:
            conn.close()


HAPROXY = shutil.which("haproxy")


@unittest.skipUnless(HAPROXY, "haproxy is not installed")
class TestProxyProtocolWithHaproxy(NetTestCase):
    """A real HAProxy in front: its frontends listen on descriptors this
    test bound on port 0 and passes in (bind fd@N), its backends send
    PROXY v1 and v2 to a sack_tcp listener; the accepted connection reports
    the client's own port, not the proxy's."""

    def test_haproxy_send_proxy_v1_and_v2(self):
        accepted = []
        cond = threading.Condition()

        def on_connect(conn, status):
            with cond:
                accepted.append(conn)
                cond.notify_all()

        srv = sack_tcp.listen("127.0.0.1", 0, proxy_protocol=True, on_message=base.echo,
                              on_connect=on_connect)
        self.addCleanup(srv.close)
        fronts = []
        for _ in range(2):
            ls = socket.socket()
            ls.bind(("127.0.0.1", 0))
            ls.listen(8)
            self.addCleanup(ls.close)
            fronts.append(ls)
        config = textwrap.dedent(f"""\
            defaults
                mode tcp
                timeout connect 5s
                timeout client 20s
                timeout server 20s
            frontend v1
                bind fd@{fronts[0].fileno()}
                default_backend v1
            frontend v2
                bind fd@{fronts[1].fileno()}
                default_backend v2
            backend v1
                server s 127.0.0.1:{srv.local_port} send-proxy
            backend v2
                server s 127.0.0.1:{srv.local_port} send-proxy-v2
            """)
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
            f.write(config)
        self.addCleanup(os.unlink, f.name)
        proc = subprocess.Popen([HAPROXY, "-db", "-f", f.name],
                                pass_fds=[ls.fileno() for ls in fronts],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def stop():
            proc.terminate()
            proc.communicate(timeout=WAIT)

        self.addCleanup(stop)
        for i, front in enumerate(fronts):
            with socket.create_connection(front.getsockname(), timeout=WAIT) as c:
                c.sendall(b"through haproxy")
                got = b""
                while len(got) < 15:
                    chunk = c.recv(64)
                    self.assertTrue(chunk, "haproxy closed the connection")
                    got += chunk
                self.assertEqual(got, b"through haproxy")
                with cond:
                    self.assertTrue(cond.wait_for(lambda: len(accepted) == i + 1, WAIT))
                conn = accepted[i]
                self.assertEqual(conn.remote_address, "127.0.0.1")
                self.assertEqual(conn.remote_port, c.getsockname()[1],
                                 f"send-proxy{'-v2' if i else ''}: the client's port")
        for conn in accepted:
            conn.close()


if __name__ == "__main__":
    unittest.main()
