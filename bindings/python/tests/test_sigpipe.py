"""A host at SIGPIPE's default disposition survives peers that reset.

Python ignores SIGPIPE at start-up, which would hide a library that raises
it; so the check runs in a child interpreter that restores SIG_DFL first
(the disposition a C host has), and the parent asserts that the child
exited normally instead of dying from the signal.
"""

import os
import pathlib
import subprocess
import sys
import unittest

HERE = pathlib.Path(__file__).resolve().parent
PY_ROOT = HERE.parent

CHILD = r"""
import signal, socket, struct, sys, threading
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
import sack_tcp

ROUNDS = 20
cond = threading.Condition()
errors, closes = [], [0]
CHUNK = b"z" * 65536

def blast(conn):
    for _ in range(32):
        try:
            conn.send(CHUNK)
        except sack_tcp.Error:
            break

def on_message(conn, data):
    try:
        conn.send(data)  # an inline write racing the reset
    except sack_tcp.Error:
        pass

def on_error(conn, code, message, data):
    with cond:
        errors.append(code)
        cond.notify_all()

def on_close(conn):
    with cond:
        closes[0] += 1
        cond.notify_all()

server = sack_tcp.listen("127.0.0.1", 0, on_ready=blast, on_message=on_message,
                         on_drain=blast, on_error=on_error, on_close=on_close)
for i in range(ROUNDS):
    peer = socket.create_connection(("127.0.0.1", server.local_port), timeout=10)
    peer.sendall(b"hello")
    peer.recv(1000)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()  # RST while the server is writing
    with cond:
        if not cond.wait_for(lambda: closes[0] == i + 1, 10):
            sys.exit("connection %d never closed" % i)
server.close()
server.wait_closed(10)
if errors != [sack_tcp.SACK_TCP_ERR_RESET] * ROUNDS:
    sys.exit("expected %d resets, got %r" % (ROUNDS, errors))
print("survived", ROUNDS, "resets")
"""


class TestSigpipe(unittest.TestCase):
    def test_resets_do_not_kill_a_host_at_sigpipe_default(self):
        try:
            import sack_tcp  # the same binding the other tests load
        except ImportError:
            sys.path.insert(0, str(PY_ROOT))
            import sack_tcp

        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(pathlib.Path(sack_tcp.__file__).resolve().parent.parent)]
            + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                              text=True, timeout=60)
        self.assertNotEqual(done.returncode, -13, "the child died of SIGPIPE")
        self.assertEqual(done.returncode, 0, done.stderr + done.stdout)
        self.assertIn("survived", done.stdout)


if __name__ == "__main__":
    unittest.main()
