"""sack_tcp for Python: TCP and TLS listeners and clients over the sack_tcp
C library (ctypes; nothing to compile).

    import sack_tcp

    def echo(conn, data):
        conn.send(data)

    server = sack_tcp.listen("127.0.0.1", 0, on_message=echo)
    client = sack_tcp.connect(f"127.0.0.1:{server.local_port}",
                              on_ready=lambda s: s.send(b"hello"),
                              on_message=lambda s, data: print(data))
    ...
    sack_tcp.shutdown()

Threads: every callback runs on one of the library's worker threads (ctypes
takes the GIL for it), never on the thread that opened the socket. For one
socket callbacks never overlap and come in order (client: connect, ready,
message..., drain..., end?, error?, close). ``close`` is the last one; after it
the binding releases the C handle.

See README.md next to this package for the full story.
"""

import atexit
import builtins
import dataclasses
import ctypes
import itertools
import logging
import os
import sys
import threading
import traceback
import types

from . import _ffi
from ._ffi import LibraryLayoutError, LibraryNotFoundError  # noqa: F401  (re-exported)

# Every SACK_TCP_* constant, under its C name and without the prefix
# (sack_tcp.SACK_TCP_ERR_REFUSED == sack_tcp.ERR_REFUSED).
for _name, _value in _ffi.CONSTANTS.items():
    globals()[_name] = _value
    globals()[_name[len("SACK_TCP_"):]] = _value
del _name, _value

#: ``send_queue_limit=NO_LIMIT`` lifts the send queue's byte limit (SIZE_MAX).
NO_LIMIT = (1 << (8 * ctypes.sizeof(ctypes.c_size_t))) - 1

CALLBACK_NAMES = ("on_connect", "on_ready", "on_message", "on_close", "on_error", "on_drain",
                  "on_end")

__all__ = [
    "Error", "Socket", "TlsInfo", "PeerChain", "open", "listen", "connect", "shutdown", "live_handles",
    "runtime_start", "strerror", "error_name", "last_error_message", "NO_LIMIT",
    "LibraryLayoutError", "LibraryNotFoundError", "wait_live_handles", "version",
    "version_string", "dispatch", "event_fd", "attach_asyncio", "detach_asyncio",
    "set_log_callback", "log_to_logging", "set_key_log_callback", "library_path", "library_origin",
] + sorted(_ffi.CONSTANTS)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

def _text(ptr_or_bytes):
    if not ptr_or_bytes:
        return ""
    if isinstance(ptr_or_bytes, int):
        ptr_or_bytes = ctypes.string_at(ptr_or_bytes)
    return ptr_or_bytes.decode("utf-8", "replace")


def strerror(code):
    """The library's description of a code (SACK_TCP_ERR_* or SACK_TCP_TLS_*)."""
    return _text(_ffi.sack_tcp_strerror(code))


def error_name(code):
    """The constant's name for a code, e.g. ``"SACK_TCP_ERR_REFUSED"``."""
    return _text(_ffi.sack_tcp_error_name(code))


def last_error_message():
    """The detailed message of the last failing sack_tcp call on this thread."""
    return _text(_ffi.sack_tcp_last_error_message())


class Error(Exception):
    """A sack_tcp failure: ``code`` (negative SACK_TCP_ERR_*), ``name`` (the
    constant's name) and ``message`` (the library's detailed message)."""

    def __init__(self, code, name=None, message=None):
        self.code = code
        self.name = name if name is not None else error_name(code)
        self.message = message if message is not None else strerror(code)
        super().__init__(code, self.name, self.message)

    def __str__(self):
        return f"{self.name} ({self.code}): {self.message}"


def _error(rc):
    # Must run on the thread that made the failing call, right after it:
    # the detailed message is thread-local in the library.
    return Error(rc, error_name(rc), last_error_message() or strerror(rc))


def _check(rc):
    if rc != _ffi.SACK_TCP_OK:
        raise _error(rc)


def _closed_error():
    return Error(_ffi.SACK_TCP_ERR_CLOSED, "SACK_TCP_ERR_CLOSED",
                 "the socket has closed and its handle was released")


# --------------------------------------------------------------------------
# Exceptions raised by user callbacks
# --------------------------------------------------------------------------

_MAX_KEPT_ERRORS = 100


def _report(sock, where, exc):
    """A user callback raised: keep the exception on the socket and show it
    the way Python shows exceptions it cannot propagate. Never raises."""
    try:
        if sock is not None:
            errors = sock.callback_errors
            if len(errors) < _MAX_KEPT_ERRORS:
                errors.append(exc)
        hook = sys.unraisablehook
        msg = f"Exception ignored in sack_tcp {where} callback"
        if hook is not sys.__unraisablehook__:
            # A hook the application installed: give it the usual fields.
            hook(types.SimpleNamespace(exc_type=type(exc), exc_value=exc,
                                       exc_traceback=exc.__traceback__,
                                       err_msg=msg, object=sock))
        else:
            # The default hook only takes CPython's own argument type; print
            # what it would print.
            print(f"{msg} of {sock!r}:", file=sys.stderr)
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - nothing may escape into C
        pass


# --------------------------------------------------------------------------
# The registry and the C trampolines
# --------------------------------------------------------------------------

# user_data is a small integer naming a Socket here. The registry holds a
# strong reference from open (or accept) until the close callback has run,
# so a socket nobody else references keeps working (an echo server does not
# keep its connections anywhere) and its callbacks always find it.
_registry = {}
_registry_lock = threading.Lock()
_ids = itertools.count(1)


def _register(sock):
    with _registry_lock:
        sock._id = next(_ids)
        _registry[sock._id] = sock


def _unregister(sock):
    with _registry_lock:
        _registry.pop(sock._id, None)


def _lookup(user_data):
    return _registry.get(user_data) if user_data else None


def _t_connect(user_data, handle, status):
    sock = target = None
    try:
        sock = target = _lookup(user_data)
        if sock is None:
            return
        if sock._kind == "listener":
            target = sock._accept(handle)
        else:
            sock._adopt(handle)
            if status != _ffi.SACK_TCP_OK:
                # Valid only during this callback, on this thread.
                sock.connect_error = Error(status, error_name(status),
                                           last_error_message() or strerror(status))
        cb = sock.on_connect
        if cb is not None:
            cb(target, status)
    except BaseException as e:  # noqa: BLE001
        _report(target, "on_connect", e)


def _simple(event):
    def trampoline(user_data, handle):
        sock = None
        try:
            sock = _lookup(user_data)
            if sock is None or not sock._owns(handle):
                return
            cb = getattr(sock, event)
            if cb is not None:
                cb(sock)
        except BaseException as e:  # noqa: BLE001
            _report(sock, event, e)
    return trampoline


def _t_message(user_data, handle, data, length):
    sock = None
    try:
        sock = _lookup(user_data)
        if sock is None or not sock._owns(handle):
            return
        cb = sock.on_message
        if cb is None:
            return
        payload = ctypes.string_at(data, length) if length else b""
        if sock._read_strings:
            # The library delivers whole, valid UTF-8 characters in text
            # mode; "replace" only matters in the race described in README.
            payload = payload.decode("utf-8", "replace")
        cb(sock, payload)
    except BaseException as e:  # noqa: BLE001
        _report(sock, "on_message", e)


def _t_error(user_data, handle, code, message, data, length):
    sock = None
    try:
        sock = _lookup(user_data)
        if sock is None or not sock._owns(handle):
            return
        cb = sock.on_error
        if cb is None:
            return
        cb(sock, code, _text(message), ctypes.string_at(data, length) if (data and length) else b"")
    except BaseException as e:  # noqa: BLE001
        _report(sock, "on_error", e)


def _t_close(user_data, handle):
    try:
        sock = _lookup(user_data)
        if sock is None or not sock._owns(handle):
            return
    except BaseException:  # noqa: BLE001 - only at interpreter teardown
        return
    sock._close_fired = True
    try:
        cb = sock.on_close
        if cb is not None:
            cb(sock)
    except BaseException as e:  # noqa: BLE001
        _report(sock, "on_close", e)
    finally:
        try:
            sock._release()  # close is the last callback: the handle goes now
            _unregister(sock)
        finally:
            sock._closed_event.set()


# Borrowed sends in flight: {id: (socket, buffer object, its ctypes view,
# on_done)}. The entry is what keeps the caller's buffer alive (and its
# address fixed) until the library hands it back through _t_send_done.
_lent = {}
_lent_lock = threading.Lock()
_lent_ids = itertools.count(1)


def _t_send_done(user_data, handle, status):
    with _lent_lock:
        entry = _lent.pop(user_data, None)
    if entry is None:
        return
    sock, _buffer, _view, on_done = entry
    try:
        if on_done is not None:
            on_done(sock, status)
    except BaseException as e:  # noqa: BLE001
        _report(sock, "send_borrowed on_done", e)


_SEND_DONE_TRAMPOLINE = _ffi.sack_tcp_send_done_cb(_t_send_done)


# One set of C function pointers for the whole process, never freed, so the
# library can never call a collected CFUNCTYPE object. Each Socket also keeps
# a reference (Socket._trampolines) for readers looking for the keep-alive.
_TRAMPOLINES = types.SimpleNamespace(
    on_connect=_ffi.sack_tcp_connect_cb(_t_connect),
    on_ready=_ffi.sack_tcp_ready_cb(_simple("on_ready")),
    on_message=_ffi.sack_tcp_message_cb(_t_message),
    on_close=_ffi.sack_tcp_close_cb(_t_close),
    on_error=_ffi.sack_tcp_error_cb(_t_error),
    on_drain=_ffi.sack_tcp_drain_cb(_simple("on_drain")),
    on_end=_ffi.sack_tcp_end_cb(_simple("on_end")),
)


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------

_STRING_OPTIONS = ("address", "to_address", "passphrase", "host", "alpn", "tls_groups",
                   "tls_cipher_suites")
_PEM_OPTIONS = ("cert", "key", "ca", "crl")
_BOOL_OPTIONS = ("read_strings", "reuse_address", "reuse_port", "no_delay", "ssl",
                 "allow_ssl_fallback", "starttls", "tls_insecure_skip_verify",
                 "allow_half_open", "proxy_protocol", "tls_no_resumption")
_INT_OPTIONS = {
    # name: (min, max) of the C type
    "port": (-(1 << 31), (1 << 31) - 1),
    "family": (-(1 << 31), (1 << 31) - 1),
    "to_port": (-(1 << 31), (1 << 31) - 1),
    "backlog": (-(1 << 31), (1 << 31) - 1),
    "client_auth": (-(1 << 31), (1 << 31) - 1),
    "keep_alive_ms": (0, (1 << 32) - 1),
    "connect_timeout_ms": (0, (1 << 32) - 1),
    "close_timeout_ms": (0, (1 << 32) - 1),
    "handshake_timeout_ms": (0, (1 << 32) - 1),
    "idle_timeout_ms": (0, (1 << 32) - 1),
    "keep_alive_interval_ms": (0, (1 << 32) - 1),
    "keep_alive_count": (0, (1 << 32) - 1),
    "user_timeout_ms": (0, (1 << 32) - 1),
    "max_connections": (0, (1 << 32) - 1),
    "read_buffer_size": (0, NO_LIMIT),
    "send_queue_limit": (0, NO_LIMIT),
    "send_queue_low_mark": (0, NO_LIMIT),
    "pause_reads_above": (0, NO_LIMIT),
    "tls_min_version": (0, (1 << 16) - 1),
    "tls_max_version": (0, (1 << 16) - 1),
    "tls_expiry_warning_days": (0, (1 << 32) - 1),
    "happy_eyeballs_delay_ms": (0, (1 << 32) - 1),
    "unix_mode": (0, (1 << 32) - 1),
}
OPTION_NAMES = (_STRING_OPTIONS + _PEM_OPTIONS + _BOOL_OPTIONS + tuple(_INT_OPTIONS)
                + ("hosts", "tls_verify", "tls_client_hello"))


def _u32(value, name):
    """An int for a uint32_t argument, range-checked."""
    value = int(value)
    if not 0 <= value < (1 << 32):
        raise ValueError(f"{name} must be within 0..2**32-1, not {value}")
    return value


def _cstr(value, name):
    """str/bytes -> bytes for a const char* (copied by the library)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    elif not isinstance(value, bytes):
        raise TypeError(f"{name} must be str or bytes, not {type(value).__name__}")
    if b"\0" in value:
        raise ValueError(f"{name} contains a NUL byte")
    return value


def _pem(value, name):
    """PEM text as str/bytes, or an os.PathLike naming a file to read."""
    if isinstance(value, os.PathLike):
        with builtins.open(value, "rb") as f:
            value = f.read()
    return _cstr(value, name)


def _host_list(value):
    if isinstance(value, (list, tuple)):
        return "~".join(value)
    return value


def _build_options(options):
    """kwargs -> (sack_tcp_options, keep-alive list). Raises TypeError for
    unknown names (an option that does not apply is the library's error)."""
    o = _ffi.options_init()
    keep = []
    for name, value in options.items():
        if name in _STRING_OPTIONS:
            if name in ("alpn", "tls_groups", "tls_cipher_suites") and \
                    isinstance(value, (list, tuple)):
                value = ",".join(value)
            elif name == "host":
                value = _host_list(value)
            b = _cstr(value, name)
            keep.append(b)
            setattr(o, name, b)
        elif name in _PEM_OPTIONS:
            b = _pem(value, name)
            keep.append(b)
            setattr(o, name, b)
        elif name in _BOOL_OPTIONS:
            setattr(o, name, bool(value))
        elif name in _INT_OPTIONS:
            lo, hi = _INT_OPTIONS[name]
            value = int(value)
            if not lo <= value <= hi:
                raise ValueError(f"{name}={value} is out of range {lo}..{hi}")
            setattr(o, name, value)
        elif name == "tls_verify":
            if value is None:
                continue
            o.tls_verify = _VERIFY_TRAMPOLINE
            o.tls_verify_user_data = _verifier_id(value)
        elif name == "tls_client_hello":
            if value is None:
                continue
            o.tls_client_hello = _HELLO_TRAMPOLINE
            o.tls_client_hello_user_data = _verifier_id(value)
        elif name == "hosts":
            if not value:
                continue
            entries = (_ffi.sack_tcp_tls_host * len(value))()
            for i, entry in enumerate(value):
                if isinstance(entry, dict):
                    h, c, k, p = (entry.get("host"), entry.get("cert"), entry.get("key"),
                                  entry.get("passphrase"))
                else:
                    h, c, k, p = (tuple(entry) + (None,))[:4]
                fields = (_cstr(_host_list(h), "hosts[].host"), _pem(c, "hosts[].cert"),
                          _pem(k, "hosts[].key"), _cstr(p, "hosts[].passphrase"))
                keep.extend(fields)
                entries[i] = _ffi.sack_tcp_tls_host(*fields)
            keep.append(entries)
            o.hosts = ctypes.cast(entries, ctypes.POINTER(_ffi.sack_tcp_tls_host))
            o.hosts_count = len(value)
        else:
            raise TypeError(f"unknown sack_tcp option {name!r}")
    return o, keep


@dataclasses.dataclass(frozen=True)
class PeerChain:
    """What a ``tls_verify`` callable is shown: the peer's chain after the
    normal checks passed. Return True to accept, False to reject."""

    certs: list                     # DER bytes, leaf first
    server_name: object             # client: the name verified; server: None
    leaf_sha256: bytes              # 32 bytes, as `openssl x509 -fingerprint -sha256`
    leaf_spki_sha256: object        # RFC 7469 pin-sha256 (32 bytes), or None


# Verify and client-hello callables by identity -> the id passed as the C
# user data. Kept for
# the process's life: the library may call a listener's callable until its
# last connection closes, and one id per callable lets clients with the same
# callable share TLS sessions.
_VERIFIERS = {}
_VERIFIER_IDS = {}
_VERIFIERS_LOCK = threading.Lock()


def _verifier_id(fn):
    if not callable(fn):
        raise TypeError("tls_verify must be callable")
    with _VERIFIERS_LOCK:
        vid = _VERIFIER_IDS.get(id(fn))
        if vid is None:
            vid = len(_VERIFIERS) + 1
            _VERIFIERS[vid] = fn
            _VERIFIER_IDS[id(fn)] = vid
        return vid


def _unraisable(e, what, obj):
    """Reports an exception raised where no caller can receive it."""
    sys.unraisablehook(types.SimpleNamespace(exc_type=type(e), exc_value=e,
                                             exc_traceback=e.__traceback__,
                                             err_msg=what, object=obj))


def _verify_trampoline(user_data, chain_p):
    fn = _VERIFIERS.get(user_data)
    try:
        c = chain_p.contents
        chain = PeerChain(
            certs=[ctypes.string_at(c.certs[i], c.cert_lens[i]) for i in range(c.count)],
            server_name=c.server_name.decode("utf-8", "replace") if c.server_name else None,
            leaf_sha256=bytes(c.leaf_sha256),
            leaf_spki_sha256=bytes(c.leaf_spki_sha256) if c.has_leaf_spki_sha256 else None,
        )
        return bool(fn(chain))
    except Exception as e:  # noqa: BLE001  (an exception rejects)
        _unraisable(e, "sack_tcp tls_verify callback", fn)
        return False


_VERIFY_TRAMPOLINE = _ffi.sack_tcp_verify_cb(_verify_trampoline)


def _hello_trampoline(user_data, hello_p):
    """``tls_client_hello(server_name, alpn)``: server_name is a str or None,
    alpn a list of bytes; return True to go on (after add_cert, perhaps)."""
    fn = _VERIFIERS.get(user_data)
    try:
        h = hello_p.contents
        name = h.server_name.decode("ascii", "replace") if h.server_name else None
        alpn = [ctypes.string_at(h.alpn[i], h.alpn_lens[i]) for i in range(h.alpn_count)]
        return bool(fn(name, alpn))
    except Exception as e:  # noqa: BLE001  (an exception rejects)
        _unraisable(e, "sack_tcp tls_client_hello callback", fn)
        return False


_HELLO_TRAMPOLINE = _ffi.sack_tcp_client_hello_cb(_hello_trampoline)


# --------------------------------------------------------------------------
# Socket
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TlsInfo:
    """Socket.tls_info(): the negotiated parameters and the peer's leaf
    certificate (peer_* are None, or [], when the peer sent none)."""

    protocol: str                   # "TLSv1.3" or "TLSv1.2"
    protocol_version: int           # 0x0304, 0x0303
    cipher_suite: str               # IANA name, "TLS_AES_256_GCM_SHA384"
    cipher_suite_id: int
    key_exchange_group: object      # "X25519MLKEM768", "X25519", ...; None if none ran
    key_exchange_group_id: int
    resumed: bool
    server_name: object             # server side: the SNI name asked for, or None
    peer_certificate_count: int
    peer_subject: object            # RFC 4514, "CN=localhost"
    peer_sans: list                 # ["DNS:localhost", "IP:127.0.0.1"]
    peer_not_before: object         # seconds since 1970 UTC
    peer_not_after: object
    peer_sha256: object             # 32 bytes


class Socket:
    """A listener, a client, or a connection a listener accepted.

    Create with :func:`listen`, :func:`connect` or :func:`open`; a listener
    hands accepted connections to its ``on_connect``. The callbacks are plain
    attributes (``sock.on_message = fn``) read at each event; an accepted
    connection starts with a copy of its listener's, which its listener's
    ``on_connect`` may replace before any other event.

    The C handle is released by the binding right after the close callback
    returns (close is the last callback), so the object stays usable for
    ``closed``/``wait_closed``/``callback_errors`` but other calls then raise
    :class:`Error` with ``SACK_TCP_ERR_CLOSED``.
    """

    def __init__(self, kind, callbacks, read_strings=False, allow_ssl_fallback=None, server=None):
        if kind not in ("listener", "client", "accepted"):
            raise ValueError(kind)
        self._kind = kind
        self._lock = threading.RLock()
        self._handle = None
        self._open_returned = False
        self._pending_free = False
        self._freed = False
        self._close_fired = False
        self._closed_event = threading.Event()
        self._id = None
        self._read_strings = bool(read_strings)
        self._allow_ssl_fallback = allow_ssl_fallback
        self._trampolines = _TRAMPOLINES
        #: The listener that accepted this connection (None otherwise).
        self.server = server
        #: Exceptions raised by this socket's callbacks (kept, not lost).
        self.callback_errors = []
        #: For a client whose connect failed: the Error with the library's message.
        self.connect_error = None
        for name in CALLBACK_NAMES:
            setattr(self, name, callbacks.get(name))

    # -- handle ownership -------------------------------------------------

    def _adopt(self, handle):
        """A callback may run before sack_tcp_open returns: take the handle
        from the callback's argument (the header's advice)."""
        if self._handle is None and not self._freed and handle:
            with self._lock:
                if self._handle is None and not self._freed:
                    self._handle = handle

    def _owns(self, handle):
        """Whether an event with this socket's user_data concerns it (always,
        except in the impossible case of an accepted connection that kept its
        listener's user_data)."""
        if self._kind == "listener" and self._handle is not None and handle != self._handle:
            return False
        self._adopt(handle)
        return True

    def _opened(self, handle):
        with self._lock:
            self._open_returned = True
            if self._pending_free:
                # close already fired (a failed connect can be that fast):
                # release the reference open gave us, now that we have it.
                self._handle = None
                self._freed = True
                _ffi.sack_tcp_free(handle)
            else:
                self._handle = handle

    def _release(self):
        """Release our one reference, exactly once."""
        with self._lock:
            if self._freed:
                return
            if not self._open_returned:
                self._pending_free = True
                return
            handle, self._handle, self._freed = self._handle, None, True
        if handle:
            _ffi.sack_tcp_free(handle)

    def _accept(self, handle):
        """A listener's connect callback: wrap the new connection (ours to
        free) and point its user_data at its own Socket before its next event."""
        rs = ctypes.c_bool(self._read_strings)
        _ffi.sack_tcp_get_read_strings(handle, ctypes.byref(rs))
        conn = Socket("accepted", {n: getattr(self, n) for n in CALLBACK_NAMES},
                      read_strings=rs.value, server=self)
        conn._handle = handle
        conn._open_returned = True
        _register(conn)
        rc = _ffi.sack_tcp_set_user_data(handle, conn._id)
        if rc != _ffi.SACK_TCP_OK:
            err = _error(rc)
            _unregister(conn)
            conn._release()
            raise err
        return conn

    def __del__(self):
        # Normally the handle is gone already (released after close, and the
        # registry keeps open sockets alive). This covers interpreter exit.
        try:
            if not self._freed and self._open_returned and self._handle:
                self._freed = True
                _ffi.sack_tcp_free(self._handle)
                self._handle = None
        except Exception:  # noqa: BLE001
            pass

    def _call(self, fn, *args):
        with self._lock:
            handle = self._handle
            if handle is None:
                raise _closed_error()
            rc = fn(handle, *args)
            if rc != _ffi.SACK_TCP_OK:
                raise _error(rc)

    def _get(self, fn, ctype):
        out = ctype()
        self._call(fn, ctypes.byref(out))
        return out.value

    def _get_string(self, fn, size=_ffi.SACK_TCP_ADDRESS_MAX):
        while True:
            buf = ctypes.create_string_buffer(size)
            try:
                self._call(fn, buf, size)
            except Error as e:
                if e.code == _ffi.SACK_TCP_ERR_INVALID_ARGUMENT and size < 65536:
                    size *= 4
                    continue
                raise
            return buf.value.decode("utf-8", "replace")

    # -- actions ------------------------------------------------------------

    def send(self, data):
        """Queue bytes (or a str, sent as UTF-8). Raises Error with
        ERR_QUEUE_FULL (on_drain fires later), ERR_CLOSED, ERR_NOT_APPLICABLE
        (a listener)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not isinstance(data, bytes):
            data = bytes(data)
        self._call(_ffi.sack_tcp_send, data, len(data))

    def send_borrowed(self, data, on_done=None):
        """Send without copying: the library reads ``data`` (bytes, or a
        writable buffer such as bytearray or a writable memoryview; other
        buffers are copied once into bytes) until it is done with it, then
        calls ``on_done(sock, status)`` exactly once, on a callback thread
        (or from dispatch in queued mode), before ``on_close``: status
        SACK_TCP_OK when every byte reached the kernel (TLS: was encrypted),
        SACK_TCP_ERR_CANCELED when the connection ended first. The binding
        holds a reference to ``data`` until then; do not change a mutable
        buffer before it. Bytes keep their order with :meth:`send`. Raises
        Error (ERR_CLOSED, ERR_NOT_APPLICABLE, ERR_QUEUE_FULL when the queue
        is already at send_queue_limit) and then never calls ``on_done``."""
        if isinstance(data, bytes):
            view = ctypes.c_char_p(data)  # points into the bytes object itself
            address, length = ctypes.cast(view, ctypes.c_void_p).value, len(data)
        else:
            mv = memoryview(data).cast("B")
            if mv.readonly:
                return self.send_borrowed(bytes(mv), on_done)
            length = mv.nbytes
            view = (ctypes.c_char * length).from_buffer(mv) if length else None
            address = ctypes.addressof(view) if length else None
            data = mv
        key = next(_lent_ids)
        with _lent_lock:
            _lent[key] = (self, data, view, on_done)
        try:
            self._call(_ffi.sack_tcp_send_borrowed, address, length,
                       _SEND_DONE_TRAMPOLINE, key)
        except BaseException:
            # Refused: the library never calls back for this one.
            with _lent_lock:
                _lent.pop(key, None)
            raise

    def close(self):
        """Graceful close (flush, FIN); ``on_close`` follows. Harmless on a
        socket that is closing or closed."""
        try:
            self._call(_ffi.sack_tcp_close)
        except Error as e:
            if e.code != _ffi.SACK_TCP_ERR_CLOSED:
                raise

    def abort(self):
        """Abortive close: queued bytes dropped, peer gets RST; ``on_close``
        follows. Harmless on a closed socket."""
        try:
            self._call(_ffi.sack_tcp_abort)
        except Error as e:
            if e.code != _ffi.SACK_TCP_ERR_CLOSED:
                raise

    def pause(self):
        """Stop reading this connection: no ``on_message`` starts after this
        returns (called from one of its callbacks: after that callback), and
        TCP's window slows the peer down. Bytes already read are held and
        delivered first after :meth:`resume`."""
        self._call(_ffi.sack_tcp_pause)

    def resume(self):
        """Undo :meth:`pause`: held bytes first, then reading goes on."""
        self._call(_ffi.sack_tcp_resume)

    def end(self):
        """Half-close: send FIN after what is queued and keep reading;
        ``on_close`` follows once the peer ends too. Later sends raise
        ERR_CLOSED."""
        self._call(_ffi.sack_tcp_end)

    def set_no_delay(self, on=True):
        """TCP_NODELAY on this live connection (``no_delay`` at open is
        only where it starts)."""
        self._call(_ffi.sack_tcp_set_no_delay, bool(on))

    def set_keep_alive(self, idle_ms, interval_ms=0, count=0):
        """Keepalive on this live connection: ``idle_ms`` 0 switches it
        off; otherwise the first probe after ``idle_ms`` of silence, then one
        every ``interval_ms``, dropped (ERR_TIMED_OUT) after ``count``
        unanswered probes. 0 keeps the current interval or count."""
        self._call(_ffi.sack_tcp_set_keep_alive, _u32(idle_ms, "idle_ms"),
                   _u32(interval_ms, "interval_ms"), _u32(count, "count"))

    def set_user_timeout(self, timeout_ms):
        """TCP_USER_TIMEOUT on this live connection: sent bytes
        unacknowledged for ``timeout_ms`` drop it with ERR_TIMED_OUT
        (0: the system's limits). Linux and Android only."""
        self._call(_ffi.sack_tcp_set_user_timeout, _u32(timeout_ms, "timeout_ms"))

    def set_idle_timeout(self, timeout_ms):
        """The idle timeout of this live connection (0: never), counted
        from now: silence for ``timeout_ms`` closes it with ERR_TIMED_OUT."""
        self._call(_ffi.sack_tcp_set_idle_timeout, _u32(timeout_ms, "timeout_ms"))

    @property
    def fd(self):
        """The connection's descriptor, for socket options the library
        does not wrap. The library owns it: never close, read, write or
        shut it down, and stop using the number once the connection closes
        (``socket.socket(fileno=os.dup(s.fd))`` gives a Python socket to
        call getsockopt/setsockopt on)."""
        return self._get(_ffi.sack_tcp_get_fd, ctypes.c_int32)

    @property
    def stats(self):
        """The connection's figures as a dict: ``bytes_received``,
        ``bytes_sent`` (bytes on the wire, TLS records included),
        ``connected_ms``, and from the kernel's TCP_INFO ``rtt_us``,
        ``rtt_var_us``, ``retransmits`` (None where TCP_INFO does not
        exist). Readable in ``on_close`` and after: frozen at close."""
        out = _ffi.sack_tcp_stats()
        with self._lock:
            handle = self._handle
            if handle is None:
                raise _closed_error()
            rc = _ffi.sack_tcp_get_stats(handle, ctypes.byref(out), ctypes.sizeof(out))
        if rc != _ffi.SACK_TCP_OK:
            raise _error(rc)
        tcp = out.has_tcp_info
        return {
            "bytes_received": out.bytes_received,
            "bytes_sent": out.bytes_sent,
            "connected_ms": out.connected_ms,
            "rtt_us": out.rtt_us if tcp else None,
            "rtt_var_us": out.rtt_var_us if tcp else None,
            "retransmits": out.retransmits if tcp else None,
        }

    def peer_credentials(self):
        """A Unix domain connection's peer process as ``(pid, uid, gid)``,
        read when it connected (pid -1 where the system does not say).
        Readable in ``on_close`` and after. Raises ``Error`` with
        ``SACK_TCP_ERR_NOT_APPLICABLE`` on a TCP connection or a listener."""
        pid, uid, gid = ctypes.c_int32(), ctypes.c_uint32(), ctypes.c_uint32()
        self._call(_ffi.sack_tcp_get_peer_credentials, ctypes.byref(pid), ctypes.byref(uid),
                   ctypes.byref(gid))
        return pid.value, uid.value, gid.value

    @property
    def connection_count(self):
        """A listener's accepted connections not closed yet (each counts
        until its ``on_close``)."""
        return self._get(_ffi.sack_tcp_get_connection_count, ctypes.c_size_t)

    def set_max_connections(self, max_connections):
        """A running listener's connection cap (0: none): connections
        accepted past it are reset at once, without a callback."""
        self._call(_ffi.sack_tcp_set_max_connections, _u32(max_connections, "max_connections"))

    def set_ssl(self, on=True):
        """STARTTLS: ``True`` starts a TLS handshake on a plain connection
        (``on_ready`` fires again when it is done). ``False`` from inside
        ``on_error`` for SACK_TCP_TLS_HANDSHAKE_FAILED demotes that
        connection to plain: ``on_ready`` then fires and the bytes that
        failed negotiation arrive as the first message (elsewhere on a TLS
        connection it raises SACK_TCP_ERR_NOT_APPLICABLE)."""
        self._call(_ffi.sack_tcp_set_ssl, bool(on))

    def add_cert(self, hosts, cert, key, passphrase=None):
        """Serve another certificate on a running TLS listener for ``hosts``
        (a '~'-separated str or a list of names), from the next handshake."""
        b = [_cstr(_host_list(hosts), "hosts"), _pem(cert, "cert"), _pem(key, "key"),
             _cstr(passphrase, "passphrase")]
        self._call(_ffi.sack_tcp_add_cert, *b)

    def reload_tls(self, **options):
        """Replace this TLS listener's whole TLS configuration for the
        handshakes accepted from now on, in one step (cert, key, passphrase,
        host, hosts, ca, client_auth, alpn, allow_ssl_fallback, starttls,
        handshake_timeout_ms and the tls_* options, as open() takes them);
        connections in progress keep theirs. On error nothing changes."""
        unknown = [n for n in options if n in CALLBACK_NAMES or n == "user_data"]
        if unknown:
            raise TypeError(f"reload_tls takes TLS options only, not {unknown}")
        o, keep = _build_options(options)
        self._call(_ffi.sack_tcp_reload_tls, ctypes.byref(o))
        del keep

    @property
    def cert_expiry(self):
        """When the first certificate this TLS listener serves expires
        (seconds since 1970 UTC)."""
        return self._get(_ffi.sack_tcp_get_cert_expiry, ctypes.c_int64)

    def remove_cert(self, hosts):
        """Stop serving the SNI names ``hosts`` (a '~'-separated str or a
        list) from the next handshake; returns how many were served."""
        removed = ctypes.c_size_t()
        self._call(_ffi.sack_tcp_remove_cert, _cstr(_host_list(hosts), "hosts"),
                   ctypes.byref(removed))
        return removed.value

    def wait_closed(self, timeout=None):
        """Block until the close callback has run; True if it has."""
        return self._closed_event.wait(timeout)

    def reraise(self):
        """Raise (and forget) the first exception a callback of this socket
        raised, if any."""
        if self.callback_errors:
            raise self.callback_errors.pop(0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- properties -----------------------------------------------------------

    @property
    def kind(self):
        """"listener", "client" or "accepted"."""
        return self._kind

    @property
    def is_listener(self):
        return self._kind == "listener"

    @property
    def closed(self):
        """True once the close callback has started."""
        return self._close_fired

    @property
    def secure(self):
        """Whether the connection is TLS with its handshake done."""
        return self._get(_ffi.sack_tcp_get_ssl, ctypes.c_bool)

    @property
    def read_strings(self):
        return self._get(_ffi.sack_tcp_get_read_strings, ctypes.c_bool)

    @read_strings.setter
    def read_strings(self, on):
        with self._lock:
            self._call(_ffi.sack_tcp_set_read_strings, bool(on))
            self._read_strings = bool(on)

    @property
    def queued_bytes(self):
        return self._get(_ffi.sack_tcp_get_queued_bytes, ctypes.c_size_t)

    @property
    def local_address(self):
        return self._get_string(_ffi.sack_tcp_get_local_address)

    @property
    def local_port(self):
        return self._get(_ffi.sack_tcp_get_local_port, ctypes.c_uint16)

    @property
    def remote_address(self):
        return self._get_string(_ffi.sack_tcp_get_remote_address)

    @property
    def remote_port(self):
        return self._get(_ffi.sack_tcp_get_remote_port, ctypes.c_uint16)

    @property
    def ports(self):
        """A listener's bound ports, one per listening socket."""
        while True:
            count = ctypes.c_size_t()
            self._call(_ffi.sack_tcp_get_ports, None, 0, ctypes.byref(count))
            n = count.value
            arr = (ctypes.c_uint16 * max(n, 1))()
            try:
                self._call(_ffi.sack_tcp_get_ports, arr, n, ctypes.byref(count))
            except Error as e:
                if e.code == _ffi.SACK_TCP_ERR_INVALID_ARGUMENT:
                    continue  # grew in between; ask again
                raise
            return list(arr[:count.value])

    @property
    def alpn(self):
        """The negotiated ALPN protocol, or None."""
        value = self._get_string(_ffi.sack_tcp_get_alpn, 256)
        return value or None

    def _get_sized(self, fn, *leading, ctype=ctypes.c_char, nul=True):
        """Calls a (…, buf, buf_len, out_len) getter twice: size, then bytes."""
        while True:
            length = ctypes.c_size_t()
            self._call(fn, *leading, None, 0, ctypes.byref(length))
            size = length.value + (1 if nul else 0)
            buf = (ctype * max(size, 1))()
            try:
                self._call(fn, *leading, buf, size, ctypes.byref(length))
            except Error as e:
                if e.code == _ffi.SACK_TCP_ERR_INVALID_ARGUMENT and length.value + 1 > size:
                    continue
                raise
            return bytes(buf)[:length.value]

    def tls_info(self):
        """What this connection's TLS handshake settled on and who the peer
        is (sack_tcp_get_tls_info, sack_tcp_get_peer_subject and
        sack_tcp_get_peer_san). Raises Error (SACK_TCP_ERR_NOT_APPLICABLE)
        on a listener, a plain connection or before ready."""
        raw = _ffi.sack_tcp_tls_info()
        self._call(_ffi.sack_tcp_get_tls_info, ctypes.byref(raw), ctypes.sizeof(raw))
        has_cert = raw.peer_certificate_count > 0
        subject = None
        sans = []
        if has_cert:
            subject = self._get_sized(_ffi.sack_tcp_get_peer_subject).decode("utf-8", "replace")
            sans = [self._get_sized(_ffi.sack_tcp_get_peer_san, i).decode("utf-8", "replace")
                    for i in range(raw.peer_san_count)]
        return TlsInfo(
            protocol=raw.protocol_name.decode(),
            protocol_version=raw.protocol_version,
            cipher_suite=raw.cipher_suite_name.decode(),
            cipher_suite_id=raw.cipher_suite,
            key_exchange_group=raw.key_exchange_group_name.decode() or None,
            key_exchange_group_id=raw.key_exchange_group,
            resumed=bool(raw.resumed),
            server_name=raw.server_name.decode() or None,
            peer_certificate_count=raw.peer_certificate_count,
            peer_subject=subject,
            peer_sans=sans,
            peer_not_before=raw.peer_not_before if has_cert else None,
            peer_not_after=raw.peer_not_after if has_cert else None,
            peer_sha256=bytes(raw.peer_sha256) if has_cert else None,
        )

    def peer_certificates(self):
        """The peer's certificate chain as DER bytes, leaf first ([] if it
        sent none) (sack_tcp_get_peer_certificate)."""
        raw = _ffi.sack_tcp_tls_info()
        self._call(_ffi.sack_tcp_get_tls_info, ctypes.byref(raw), ctypes.sizeof(raw))
        return [self._get_sized(_ffi.sack_tcp_get_peer_certificate, i, ctype=ctypes.c_uint8,
                                nul=False)
                for i in range(raw.peer_certificate_count)]

    @property
    def allow_ssl_fallback(self):
        """The last value set here or at open (the C API has no getter)."""
        return self._allow_ssl_fallback

    @allow_ssl_fallback.setter
    def allow_ssl_fallback(self, on):
        self._call(_ffi.sack_tcp_set_allow_ssl_fallback, bool(on))
        self._allow_ssl_fallback = bool(on)

    def __repr__(self):
        state = "closed" if self._close_fired else "open"
        return f"<sack_tcp.Socket {self._kind} #{self._id} {state}>"


# --------------------------------------------------------------------------
# Opening
# --------------------------------------------------------------------------

def open(**options):  # noqa: A001 - mirrors sack_tcp_open
    """Open a listener (no ``to_address``) or start a client (``to_address``).

    Options are the C struct's fields by name (``port``, ``address``,
    ``family``, ``to_address``, ``to_port``, ``read_strings``, ``ssl``,
    ``cert``, ``key``, ``ca``, ``hosts``, ``pause_reads_above``,
    ``allow_half_open``, ...) plus the seven callbacks
    ``on_connect(sock, status)``, ``on_ready(sock)``, ``on_message(sock, data)``,
    ``on_close(sock)``, ``on_error(sock, code, message, data)``,
    ``on_drain(sock)``, ``on_end(sock)`` (the peer finished sending). Raises
    :class:`Error` for what the library refuses at
    once (bad address, port in use, bad certificate, ...).
    """
    kind = "client" if options.get("to_address") is not None else "listener"
    return _open_via(lambda o, out: _ffi.sack_tcp_open(o, out), kind, options)


def _open_via(call, kind, options):
    """The body of open(), listen_fd() and adopt_fd(): ``call(options,
    out)`` is the C function that opens."""
    callbacks = {}
    for name in CALLBACK_NAMES:
        cb = options.pop(name, None)
        if cb is not None and not callable(cb):
            raise TypeError(f"{name} must be callable")
        callbacks[name] = cb
    o, keep = _build_options(options)
    sock = Socket(kind, callbacks, read_strings=o.read_strings,
                  allow_ssl_fallback=options.get("allow_ssl_fallback"))
    for name in CALLBACK_NAMES:
        setattr(o, name, getattr(_TRAMPOLINES, name))
    _register(sock)
    o.user_data = sock._id
    out = _ffi.sack_tcp_p()
    rc = call(ctypes.byref(o), ctypes.byref(out))
    if rc != _ffi.SACK_TCP_OK:
        err = _error(rc)
        _unregister(sock)  # no callback fires after a failed open
        raise err
    sock._opened(out.value)
    del keep  # the library copied every string during the call
    return sock


def listen_fd(fd, **options):
    """A listener on ``fd``, a listening TCP socket bound elsewhere (systemd's
    LISTEN_FDS, a parent that bound a privileged port); ``fd`` may be an int
    or an object with ``fileno()``. On success the library owns the socket
    and has closed ``fd`` (a Python socket object passed in is detached);
    on failure ``fd`` stays yours. No ``address``/``port``/``to_address``."""
    return _open_fd(_ffi.sack_tcp_open_listener_fd, "listener", fd, options)


def adopt_fd(fd, **options):
    """Adopt ``fd``, an already-connected TCP socket, as a plain connection:
    ``on_connect`` (success) and ``on_ready`` follow. Ownership as for
    :func:`listen_fd`."""
    return _open_fd(_ffi.sack_tcp_adopt_fd, "client", fd, options)


def _open_fd(fn, kind, fd, options):
    number = fd.fileno() if hasattr(fd, "fileno") else int(fd)
    sock = _open_via(lambda o, out: fn(o, number, out), kind, options)
    if hasattr(fd, "detach"):
        fd.detach()  # the library closed the number; Python must not
    return sock


def listen(address="127.0.0.1", port=0, **options):
    """Open a listener on ``address`` (None = the wildcard of ``family``) and
    ``port`` (0 = any; read ``sock.local_port``). ``address`` may be a Unix
    domain socket, "unix:/path" (with ``port`` 0; ``unix_mode`` sets the
    file's mode) or "unix:@name"."""
    if "to_address" in options:
        raise TypeError("listen() takes no to_address; use connect()")
    return open(address=address, port=port, **options)


def connect(to_address, **options):
    """Start a client to ``to_address``: "host:port", "[v6]:port", a bare
    port, a (host, port) tuple, or a Unix domain socket "unix:/path" or
    "unix:@name" (Linux's abstract namespace). Returns at once; ``on_connect`` reports."""
    if isinstance(to_address, tuple):
        host, port = to_address
        options.setdefault("to_port", port)
        to_address = host
    elif isinstance(to_address, int):
        to_address = str(to_address)
    return open(to_address=to_address, **options)


# --------------------------------------------------------------------------
# Runtime
# --------------------------------------------------------------------------

def runtime_start(worker_threads=0, delivery_mode=None, queued=False, queued_bytes_limit=0,
                  queued_bytes_per_socket=0):
    """Start the runtime with ``worker_threads`` threads (0 = one per CPU).
    ``queued=True`` (or ``delivery_mode=DELIVERY_QUEUED``) makes callbacks
    wait until your thread calls :func:`dispatch`; :func:`event_fd` is then
    readable while any wait (for ``selectors``, or asyncio through
    :func:`attach_asyncio`). Received bytes waiting for dispatch are bounded
    by ``queued_bytes_limit`` in all and ``queued_bytes_per_socket`` per
    connection (0 = 64 MiB and 4 MiB): past them connections stop reading
    until you dispatch. Optional; raises Error(ERR_INVALID_ARGUMENT) if
    the runtime is already running."""
    o = _ffi.runtime_options_init()
    o.worker_threads = int(worker_threads)
    o.queued_bytes_limit = int(queued_bytes_limit)
    o.queued_bytes_per_socket = int(queued_bytes_per_socket)
    if delivery_mode is None:
        delivery_mode = _ffi.SACK_TCP_DELIVERY_QUEUED if queued else _ffi.SACK_TCP_DELIVERY_THREADS
    o.delivery_mode = int(delivery_mode)
    _check(_ffi.sack_tcp_runtime_start(ctypes.byref(o)))


def dispatch(max_events=0):
    """Queued delivery: run up to ``max_events`` waiting callbacks (0 = all
    that wait) on this thread; returns how many ran. Never blocks.
    Error(ERR_NOT_APPLICABLE) in the threaded mode."""
    if max_events <= 0:
        max_events = NO_LIMIT
    n = ctypes.c_size_t(0)
    _check(_ffi.sack_tcp_dispatch(max_events, ctypes.byref(n)))
    return n.value


def event_fd():
    """Queued delivery: a file descriptor that is readable while callbacks
    wait for :func:`dispatch`. Register it with ``selectors`` or
    ``loop.add_reader``; never read or close it."""
    fd = ctypes.c_int32(-1)
    _check(_ffi.sack_tcp_get_event_fd(ctypes.byref(fd)))
    return fd.value


def attach_asyncio(loop=None):
    """Queued delivery inside an asyncio loop: ``loop.add_reader(event_fd(),
    dispatch)``, so callbacks run on the loop's thread. Returns the fd.
    Start the runtime with ``runtime_start(queued=True)`` first."""
    if loop is None:
        import asyncio
        loop = asyncio.get_event_loop()
    fd = event_fd()
    loop.add_reader(fd, dispatch)
    return fd


def detach_asyncio(loop=None):
    """Undo :func:`attach_asyncio`."""
    if loop is None:
        import asyncio
        loop = asyncio.get_event_loop()
    loop.remove_reader(event_fd())


def wait_live_handles(target=0, timeout=5.0):
    """Wait (GIL released) until at most ``target`` socket objects are alive,
    up to ``timeout`` seconds; returns the count then."""
    return _ffi.sack_tcp_wait_live_handles(int(target), int(max(0.0, timeout) * 1000))


def version():
    """The library's version number, MAJOR * 10000 + MINOR * 100 + PATCH."""
    return _ffi.sack_tcp_version()


def version_string():
    """The library's version, e.g. "0.1.0"."""
    return _text(_ffi.sack_tcp_version_string())


# --------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------

_LEVELS_TO_PY = {
    _ffi.SACK_TCP_LOG_ERROR: logging.ERROR,
    _ffi.SACK_TCP_LOG_WARN: logging.WARNING,
    _ffi.SACK_TCP_LOG_INFO: logging.INFO,
    _ffi.SACK_TCP_LOG_DEBUG: logging.DEBUG,
    _ffi.SACK_TCP_LOG_TRACE: 5,  # below DEBUG, as some libraries do
}
_log_state = types.SimpleNamespace(callback=None, c_callback=None)


def _t_log(user_data, level, target, message):
    try:
        cb = _log_state.callback
        if cb is not None:
            cb(level, _text(target), _text(message))
    except BaseException as e:  # noqa: BLE001 - nothing may escape into C
        _report(None, "log", e)


# One C function pointer for the process, never freed.
_LOG_TRAMPOLINE = _ffi.sack_tcp_log_cb(_t_log)


def set_log_callback(callback, max_level=_ffi.SACK_TCP_LOG_INFO):
    """Send the library's log records (and rustls') of ``max_level``
    (a LOG_* constant) and more severe to ``callback(level, target, message)``,
    called on whichever thread logs. ``None`` (or LOG_OFF) turns logging off."""
    if callback is None or max_level == _ffi.SACK_TCP_LOG_OFF:
        _check(_ffi.sack_tcp_set_log_callback(_ffi.sack_tcp_log_cb(), None, _ffi.SACK_TCP_LOG_OFF))
        _log_state.callback = None
        return
    if not callable(callback):
        raise TypeError("callback must be callable")
    _log_state.callback = callback
    _check(_ffi.sack_tcp_set_log_callback(_LOG_TRAMPOLINE, None, int(max_level)))


class _KeyLogState:
    callback = None


def _key_log_trampoline(user_data, line):
    callback = _KeyLogState.callback
    if callback is not None:
        try:
            callback(line.decode("ascii", "replace"))
        except Exception as e:  # noqa: BLE001
            _unraisable(e, "sack_tcp key log callback", callback)


_KEY_LOG_TRAMPOLINE = _ffi.sack_tcp_key_log_cb(_key_log_trampoline)


def set_key_log_callback(callback):
    """DEBUGGING ONLY: ``callback(line)`` receives every TLS secret as an
    NSS key-log line (what SSLKEYLOGFILE gives; append lines to a file for
    Wireshark). Whoever reads them can decrypt the traffic. Process-wide,
    called on runtime threads; ``None`` turns it off (the default)."""
    if callback is None:
        _check(_ffi.sack_tcp_set_key_log_callback(_ffi.sack_tcp_key_log_cb(), None))
        _KeyLogState.callback = None
        return
    if not callable(callback):
        raise TypeError("callback must be callable")
    _KeyLogState.callback = callback
    _check(_ffi.sack_tcp_set_key_log_callback(_KEY_LOG_TRAMPOLINE, None))


def log_to_logging(logger="sack_tcp", max_level=None):
    """Route the library's records into Python's ``logging``: a record with
    target ``t`` goes to the logger ``<logger>.<t>`` (``::`` becomes ``.``)
    at the matching level (TRACE is level 5). ``max_level`` defaults to
    what the logger would let through. Returns the base logger."""
    base = logger if isinstance(logger, logging.Logger) else logging.getLogger(logger)
    if max_level is None:
        eff = base.getEffectiveLevel()
        if eff <= 5:
            max_level = _ffi.SACK_TCP_LOG_TRACE
        elif eff <= logging.DEBUG:
            max_level = _ffi.SACK_TCP_LOG_DEBUG
        elif eff <= logging.INFO:
            max_level = _ffi.SACK_TCP_LOG_INFO
        elif eff <= logging.WARNING:
            max_level = _ffi.SACK_TCP_LOG_WARN
        else:
            max_level = _ffi.SACK_TCP_LOG_ERROR

    def forward(level, target, message):
        name = target.replace("::", ".") if target else ""
        log = base.getChild(name) if name else base
        log.log(_LEVELS_TO_PY.get(level, logging.INFO), "%s", message)

    set_log_callback(forward, max_level)
    return base


def shutdown():
    """Close every socket, run their close callbacks, stop the runtime's
    threads. The GIL is released while it waits, so Python close callbacks
    run. Raises Error(ERR_WOULD_DEADLOCK) from inside a callback."""
    _check(_ffi.sack_tcp_shutdown())


def live_handles():
    """Socket objects alive in the library (0 after shutdown() with every
    handle released, which this binding does after each close callback)."""
    return _ffi.sack_tcp_live_handles()


def _at_exit():
    # Callbacks must not reach an interpreter that is being torn down.
    try:
        _ffi.sack_tcp_set_log_callback(_ffi.sack_tcp_log_cb(), None, _ffi.SACK_TCP_LOG_OFF)
        _ffi.sack_tcp_shutdown()
    except BaseException:  # noqa: BLE001
        pass


atexit.register(_at_exit)


#: Where the loaded library came from; see sack_tcp._ffi.
library_path = _ffi.library_path
library_origin = _ffi.library_origin

#: Every function of include/sack_tcp.h and the Python API that exposes it
#: (tests/test_coverage.py fails when the header gains one missing here).
C_API_COVERAGE = {
    "sack_tcp_runtime_options_init_sized": "runtime_start",
    "sack_tcp_runtime_start": "runtime_start",
    "sack_tcp_shutdown": "shutdown",
    "sack_tcp_wait_live_handles": "wait_live_handles",
    "sack_tcp_version": "version",
    "sack_tcp_version_string": "version_string",
    "sack_tcp_dispatch": "dispatch",
    "sack_tcp_get_event_fd": "event_fd",
    "sack_tcp_live_handles": "live_handles",
    "sack_tcp_strerror": "strerror",
    "sack_tcp_error_name": "error_name",
    "sack_tcp_last_error_message": "last_error_message",
    "sack_tcp_set_log_callback": "set_log_callback",
    "sack_tcp_options_init_sized": "open",
    "sack_tcp_open": "open",
    "sack_tcp_send": "Socket.send",
    "sack_tcp_send_borrowed": "Socket.send_borrowed",
    "sack_tcp_close": "Socket.close",
    "sack_tcp_abort": "Socket.abort",
    "sack_tcp_pause": "Socket.pause",
    "sack_tcp_resume": "Socket.resume",
    "sack_tcp_end": "Socket.end",
    "sack_tcp_retain": "Socket",  # the binding's own reference handling
    "sack_tcp_free": "Socket",
    "sack_tcp_on_connect": "Socket.on_connect",
    "sack_tcp_on_ready": "Socket.on_ready",
    "sack_tcp_on_message": "Socket.on_message",
    "sack_tcp_on_close": "Socket.on_close",
    "sack_tcp_on_error": "Socket.on_error",
    "sack_tcp_on_drain": "Socket.on_drain",
    "sack_tcp_on_end": "Socket.on_end",
    "sack_tcp_set_user_data": "Socket",
    "sack_tcp_get_user_data": "Socket",
    "sack_tcp_set_read_strings": "Socket.read_strings",
    "sack_tcp_get_read_strings": "Socket.read_strings",
    "sack_tcp_get_queued_bytes": "Socket.queued_bytes",
    "sack_tcp_is_listener": "Socket.is_listener",
    "sack_tcp_get_local_address": "Socket.local_address",
    "sack_tcp_get_local_port": "Socket.local_port",
    "sack_tcp_get_remote_address": "Socket.remote_address",
    "sack_tcp_get_remote_port": "Socket.remote_port",
    "sack_tcp_get_ports": "Socket.ports",
    "sack_tcp_add_cert": "Socket.add_cert",
    "sack_tcp_set_ssl": "Socket.set_ssl",
    "sack_tcp_get_ssl": "Socket.secure",
    "sack_tcp_set_allow_ssl_fallback": "Socket.allow_ssl_fallback",
    "sack_tcp_get_alpn": "Socket.alpn",
    "sack_tcp_set_no_delay": "Socket.set_no_delay",
    "sack_tcp_set_keep_alive": "Socket.set_keep_alive",
    "sack_tcp_set_user_timeout": "Socket.set_user_timeout",
    "sack_tcp_set_idle_timeout": "Socket.set_idle_timeout",
    "sack_tcp_get_fd": "Socket.fd",
    "sack_tcp_get_stats": "Socket.stats",
    "sack_tcp_get_connection_count": "Socket.connection_count",
    "sack_tcp_get_peer_credentials": "Socket.peer_credentials",
    "sack_tcp_open_listener_fd": "listen_fd",
    "sack_tcp_adopt_fd": "adopt_fd",
    "sack_tcp_set_max_connections": "Socket.set_max_connections",
    "sack_tcp_set_key_log_callback": "set_key_log_callback",
    "sack_tcp_reload_tls": "Socket.reload_tls",
    "sack_tcp_remove_cert": "Socket.remove_cert",
    "sack_tcp_get_cert_expiry": "Socket.cert_expiry",
    "sack_tcp_get_tls_info": "Socket.tls_info",
    "sack_tcp_get_peer_certificate": "Socket.peer_certificates",
    "sack_tcp_get_peer_subject": "Socket.tls_info",
    "sack_tcp_get_peer_san": "Socket.tls_info",
}
