"""Unix domain sockets through the binding: echo over a socket file with
the peer's credentials and the address strings, the file's mode, the file
removed at close, a live path refused, and Python's own socket module as
the peer. Every wait bounded; nothing sleeps to synchronise.
"""

import os
import socket
import stat
import tempfile
import threading
import unittest

import test_sack_tcp as base

import sack_tcp
from sack_tcp import _ffi

WAIT = base.WAIT


@unittest.skipUnless(hasattr(socket, "AF_UNIX"), "Unix domain sockets")
class TestUnixSockets(base.SackTcpTestCase):
    def setUp(self):
        super().setUp()
        tmp = tempfile.TemporaryDirectory(prefix="sack-unix-")
        self.addCleanup(tmp.cleanup)
        self.path = os.path.join(tmp.name, "s.sock")
        self.address = "unix:" + self.path

    def echo_listener(self, **options):
        accepted = []

        def on_connect(conn, status):
            accepted.append(conn)

        def on_message(conn, data):
            conn.send(data)

        srv = sack_tcp.listen(self.address, 0, on_connect=on_connect, on_message=on_message,
                              **options)
        self.addCleanup(lambda: [c.close() for c in accepted])
        return srv, accepted

    def test_echo_credentials_and_addresses(self):
        srv, accepted = self.echo_listener(unix_mode=0o660)
        self.addCleanup(srv.close)
        self.assertEqual(stat.S_IMODE(os.lstat(self.path).st_mode), 0o660)
        self.assertEqual(srv.local_address, self.address)
        self.assertEqual(srv.ports, [0])

        got = []
        done = threading.Event()

        def on_message(s, data):
            got.append(bytes(data))
            if b"".join(got) == b"over unix":
                done.set()

        cli = sack_tcp.connect(self.address, on_message=on_message)
        self.addCleanup(cli.close)
        cli.send(b"over unix")
        self.assertTrue(done.wait(WAIT))
        self.assertEqual(cli.remote_address, self.address)
        self.assertEqual(cli.local_address, "unix:")
        self.assertEqual(cli.remote_port, 0)
        self.assertEqual(cli.peer_credentials(), (os.getpid(), os.getuid(), os.getgid()))
        self.assertEqual(accepted[0].peer_credentials(), (os.getpid(), os.getuid(), os.getgid()))
        with self.assertRaises(sack_tcp.Error) as e:
            cli.set_no_delay(True)
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_NOT_APPLICABLE)
        with self.assertRaises(sack_tcp.Error) as e:
            srv.peer_credentials()
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_NOT_APPLICABLE)

    def test_live_path_refused_and_file_removed_at_close(self):
        closed = threading.Event()
        srv = sack_tcp.listen(self.address, 0, on_close=lambda s: closed.set())
        with self.assertRaises(sack_tcp.Error) as e:
            sack_tcp.listen(self.address, 0)
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_ADDRESS_IN_USE)
        self.assertTrue(os.path.exists(self.path))
        srv.close()
        self.assertTrue(closed.wait(WAIT))
        self.assertFalse(os.path.exists(self.path))

    def test_python_socket_peer(self):
        srv, _accepted = self.echo_listener()
        self.addCleanup(srv.close)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
            peer.settimeout(WAIT)
            peer.connect(self.path)
            peer.sendall(b"from python")
            got = b""
            while len(got) < 11:
                chunk = peer.recv(64)
                if not chunk:
                    break
                got += chunk
        self.assertEqual(got, b"from python")

    def test_credentials_not_on_tcp(self):
        ready = threading.Event()
        srv = sack_tcp.listen("127.0.0.1", 0)
        self.addCleanup(srv.close)
        cli = sack_tcp.connect(f"127.0.0.1:{srv.local_port}", on_ready=lambda s: ready.set())
        self.addCleanup(cli.close)
        self.assertTrue(ready.wait(WAIT))
        with self.assertRaises(sack_tcp.Error) as e:
            cli.peer_credentials()
        self.assertEqual(e.exception.code, _ffi.SACK_TCP_ERR_NOT_APPLICABLE)


if __name__ == "__main__":
    unittest.main()
