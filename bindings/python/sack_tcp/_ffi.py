"""Raw ctypes declarations for the sack_tcp C ABI (include/sack_tcp.h).

Everything here mirrors the header one to one: constants, the versioned
option structs (every field, in order), the callback types and the
argtypes/restype of every exported function. The pythonic API lives in
``sack_tcp/__init__.py``; use this module directly only if you need the
raw calls.

Loading order for the shared library:

1. ``$SACK_TCP_LIB``: a path to the library file (or to a directory that
   holds it); if it fails to load, the import fails;
2. the library shipped inside this package (``sack_tcp/libsack_tcp.so``,
   put there by ``pip install bindings/python``, built by cargo in release
   mode);
3. in a checkout, ``target/release`` then ``target/debug`` of the
   repository this file sits in (``bindings/python/sack_tcp/_ffi.py`` ->
   repo root three levels up): the optimised build first. ``library_path``
   and ``library_origin`` say which was loaded;
4. the system, through ``ctypes.util.find_library("sack_tcp")``.

Each place accepts ``libsack_tcp.so``, ``libsack_tcp.so.<N>...``,
``libsack_tcp.dylib`` and ``sack_tcp.dll``.

The library is loaded with ``ctypes.CDLL``, which releases the GIL around
every foreign call; callbacks (CFUNCTYPE) take the GIL themselves when the
library's worker threads call them. That pair is what lets
``sack_tcp_shutdown`` wait for close callbacks written in Python.
"""

import ctypes
import ctypes.util
import glob
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_int32,
    c_int64,
    c_size_t,
    c_uint16,
    c_uint32,
    c_uint64,
    c_uint8,
    c_void_p,
)

__all__ = []  # filled below; `from ._ffi import *` is not the intended use


class LibraryLayoutError(ImportError):
    """The ctypes structs do not match the loaded library's (a header or
    library version mismatch). Raised at import time."""


class LibraryNotFoundError(ImportError):
    """No libsack_tcp could be found or loaded."""


# --------------------------------------------------------------------------
# Constants (values copied from include/sack_tcp.h)
# --------------------------------------------------------------------------

SACK_TCP_FAMILY_ANY = 0
SACK_TCP_FAMILY_IPV4 = 4
SACK_TCP_FAMILY_IPV6 = 6

SACK_TCP_ADDRESS_MAX = 128

SACK_TCP_CLIENT_AUTH_NONE = 0
SACK_TCP_CLIENT_AUTH_REQUEST = 1
SACK_TCP_CLIENT_AUTH_REQUIRE = 2

SACK_TCP_PROTOCOL_TLS_1_2 = 0x0303
SACK_TCP_PROTOCOL_TLS_1_3 = 0x0304

SACK_TCP_DELIVERY_THREADS = 0
SACK_TCP_DELIVERY_QUEUED = 1

SACK_TCP_LOG_OFF = 0
SACK_TCP_LOG_ERROR = 1
SACK_TCP_LOG_WARN = 2
SACK_TCP_LOG_INFO = 3
SACK_TCP_LOG_DEBUG = 4
SACK_TCP_LOG_TRACE = 5

SACK_TCP_OK = 0
SACK_TCP_ERR_INVALID_ARGUMENT = -1
SACK_TCP_ERR_NULL_POINTER = -2
SACK_TCP_ERR_BAD_ADDRESS = -3
SACK_TCP_ERR_RESOLVE = -4
SACK_TCP_ERR_REFUSED = -5
SACK_TCP_ERR_UNREACHABLE = -6
SACK_TCP_ERR_TIMED_OUT = -7
SACK_TCP_ERR_ADDRESS_IN_USE = -8
SACK_TCP_ERR_ADDRESS_NOT_AVAILABLE = -9
SACK_TCP_ERR_PERMISSION_DENIED = -10
SACK_TCP_ERR_CLOSED = -11
SACK_TCP_ERR_QUEUE_FULL = -12
SACK_TCP_ERR_NOT_APPLICABLE = -13
SACK_TCP_ERR_RESET = -14
SACK_TCP_ERR_CANCELED = -15
SACK_TCP_ERR_IO = -16
SACK_TCP_ERR_RUNTIME = -17
SACK_TCP_ERR_WOULD_DEADLOCK = -18
SACK_TCP_ERR_PANIC = -19
SACK_TCP_ERR_BAD_PEM = -20
SACK_TCP_ERR_WRONG_PASSPHRASE = -21
SACK_TCP_ERR_KEY_MISMATCH = -22
SACK_TCP_ERR_UNSUPPORTED_KEY = -23
SACK_TCP_ERR_PROXY_HEADER = -24

# Positive codes: only ever passed to the error callback.
SACK_TCP_TLS_UNKNOWN_ISSUER = 1
SACK_TCP_TLS_BAD_NAME = 2
SACK_TCP_TLS_EXPIRED = 3
SACK_TCP_TLS_SELF_SIGNED = 4
SACK_TCP_TLS_BAD_CERTIFICATE = 5
SACK_TCP_TLS_HANDSHAKE_FAILED = 6
SACK_TCP_TLS_HOST_MISMATCH = 7
SACK_TCP_TLS_REVOKED = 8
SACK_TCP_TLS_REJECTED = 9

CONSTANTS = {
    name: value
    for name, value in dict(globals()).items()
    if name.startswith("SACK_TCP_") and isinstance(value, int)
}

# --------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------

# `sack_tcp *` is opaque: carried as c_void_p (a Python int, or None).
sack_tcp_p = c_void_p
sack_tcp_result = c_int32

# typedef void (*sack_tcp_connect_cb)(void *user_data, sack_tcp *socket, sack_tcp_result status);
sack_tcp_connect_cb = CFUNCTYPE(None, c_void_p, sack_tcp_p, sack_tcp_result)
# typedef void (*sack_tcp_ready_cb)(void *user_data, sack_tcp *socket);
sack_tcp_ready_cb = CFUNCTYPE(None, c_void_p, sack_tcp_p)
# typedef void (*sack_tcp_message_cb)(void *user_data, sack_tcp *socket,
#                                     const uint8_t *data, size_t len);
# `data` is declared c_void_p (an int address) so no pointer object is built
# per message; read it with ctypes.string_at(data, len).
sack_tcp_message_cb = CFUNCTYPE(None, c_void_p, sack_tcp_p, c_void_p, c_size_t)
# typedef void (*sack_tcp_close_cb)(void *user_data, sack_tcp *socket);
sack_tcp_close_cb = CFUNCTYPE(None, c_void_p, sack_tcp_p)
# typedef void (*sack_tcp_error_cb)(void *user_data, sack_tcp *socket, sack_tcp_result code,
#                                   const char *message, const uint8_t *data, size_t len);
# `message` is c_void_p too (not c_char_p) so the binding decides how to
# decode it and a NULL never surprises.
sack_tcp_error_cb = CFUNCTYPE(
    None, c_void_p, sack_tcp_p, sack_tcp_result, c_void_p, c_void_p, c_size_t
)
# typedef void (*sack_tcp_drain_cb)(void *user_data, sack_tcp *socket);
sack_tcp_drain_cb = CFUNCTYPE(None, c_void_p, sack_tcp_p)
# typedef void (*sack_tcp_send_done_cb)(void *user_data, sack_tcp *socket,
#                                       sack_tcp_result status);
sack_tcp_send_done_cb = CFUNCTYPE(None, c_void_p, sack_tcp_p, sack_tcp_result)
# typedef void (*sack_tcp_end_cb)(void *user_data, sack_tcp *socket);
sack_tcp_end_cb = CFUNCTYPE(None, c_void_p, sack_tcp_p)
# typedef void (*sack_tcp_log_cb)(void *user_data, int32_t level,
#                                 const char *target, const char *message);
# Strings as c_void_p, decoded by the binding (never NULL per the header).
sack_tcp_log_cb = CFUNCTYPE(None, c_void_p, c_int32, c_void_p, c_void_p)

# typedef void (*sack_tcp_key_log_cb)(void *user_data, const char *line);
sack_tcp_key_log_cb = CFUNCTYPE(None, c_void_p, c_char_p)


class sack_tcp_peer_chain(Structure):
    _fields_ = [
        ("certs", POINTER(c_void_p)),
        ("cert_lens", POINTER(c_size_t)),
        ("count", c_size_t),
        ("server_name", c_char_p),
        ("leaf_sha256", c_uint8 * 32),
        ("leaf_spki_sha256", c_uint8 * 32),
        ("has_leaf_spki_sha256", c_bool),
    ]


class sack_tcp_client_hello(Structure):
    _fields_ = [
        ("server_name", c_char_p),
        ("alpn", POINTER(c_void_p)),
        ("alpn_lens", POINTER(c_size_t)),
        ("alpn_count", c_size_t),
    ]


# typedef bool (*sack_tcp_client_hello_cb)(void *user_data, const sack_tcp_client_hello *hello);
sack_tcp_client_hello_cb = CFUNCTYPE(c_bool, c_void_p, POINTER(sack_tcp_client_hello))

# typedef bool (*sack_tcp_verify_cb)(void *user_data, const sack_tcp_peer_chain *chain);
sack_tcp_verify_cb = CFUNCTYPE(c_bool, c_void_p, POINTER(sack_tcp_peer_chain))


class sack_tcp_runtime_options(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("worker_threads", c_uint32),
        # Version 2 starts past version 1's sizeof (ctypes pads like C).
        ("queued_bytes_limit", c_size_t),
        ("queued_bytes_per_socket", c_size_t),
        ("delivery_mode", c_int32),
    ]


class sack_tcp_stats(Structure):
    """A connection's figures (sack_tcp_get_stats)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("bytes_received", c_uint64),
        ("bytes_sent", c_uint64),
        ("connected_ms", c_uint64),
        ("rtt_us", c_uint32),
        ("rtt_var_us", c_uint32),
        ("retransmits", c_uint32),
        ("has_tcp_info", c_bool),
    ]


class sack_tcp_tls_host(Structure):
    _fields_ = [
        ("host", c_char_p),
        ("cert", c_char_p),
        ("key", c_char_p),
        ("passphrase", c_char_p),
    ]


class sack_tcp_tls_info(Structure):
    # Exactly the header's order; filled by sack_tcp_get_tls_info.
    _fields_ = [
        ("struct_size", c_size_t),
        ("protocol_version", c_uint16),
        ("cipher_suite", c_uint16),
        ("key_exchange_group", c_uint16),
        ("resumed", c_bool),
        ("protocol_name", c_char * 16),
        ("cipher_suite_name", c_char * 64),
        ("key_exchange_group_name", c_char * 32),
        ("server_name", c_char * 256),
        ("peer_certificate_count", c_size_t),
        ("peer_not_before", c_int64),
        ("peer_not_after", c_int64),
        ("peer_sha256", c_uint8 * 32),
        ("peer_san_count", c_size_t),
    ]


class sack_tcp_options(Structure):
    # Exactly the header's order. Fields are only ever appended upstream;
    # append here too, never reorder.
    _fields_ = [
        ("struct_size", c_size_t),
        ("port", c_int32),
        ("address", c_char_p),
        ("family", c_int32),
        ("to_address", c_char_p),
        ("to_port", c_int32),
        ("read_strings", c_bool),
        ("reuse_address", c_bool),
        ("reuse_port", c_bool),
        ("no_delay", c_bool),
        ("keep_alive_ms", c_uint32),
        ("connect_timeout_ms", c_uint32),
        ("read_buffer_size", c_size_t),
        ("send_queue_limit", c_size_t),
        ("send_queue_low_mark", c_size_t),
        ("backlog", c_int32),
        ("close_timeout_ms", c_uint32),
        ("on_connect", sack_tcp_connect_cb),
        ("on_ready", sack_tcp_ready_cb),
        ("on_message", sack_tcp_message_cb),
        ("on_close", sack_tcp_close_cb),
        ("on_error", sack_tcp_error_cb),
        ("on_drain", sack_tcp_drain_cb),
        ("user_data", c_void_p),
        ("ssl", c_bool),
        ("cert", c_char_p),
        ("key", c_char_p),
        ("passphrase", c_char_p),
        ("host", c_char_p),
        ("ca", c_char_p),
        ("hosts", POINTER(sack_tcp_tls_host)),
        ("hosts_count", c_size_t),
        ("allow_ssl_fallback", c_bool),
        ("starttls", c_bool),
        ("tls_insecure_skip_verify", c_bool),
        ("client_auth", c_int32),
        ("alpn", c_char_p),
        ("handshake_timeout_ms", c_uint32),
        # Version 2 starts past version 1's sizeof (ctypes pads like C).
        ("pause_reads_above", c_size_t),
        ("on_end", sack_tcp_end_cb),
        ("idle_timeout_ms", c_uint32),
        ("allow_half_open", c_bool),
        ("keep_alive_interval_ms", c_uint32),
        ("keep_alive_count", c_uint32),
        ("user_timeout_ms", c_uint32),
        ("max_connections", c_uint32),
        ("proxy_protocol", c_bool),
        ("tls_min_version", c_uint16),
        ("tls_max_version", c_uint16),
        ("tls_groups", c_char_p),
        ("tls_cipher_suites", c_char_p),
        ("tls_no_resumption", c_bool),
        ("tls_expiry_warning_days", c_uint32),
        ("crl", c_char_p),
        ("happy_eyeballs_delay_ms", c_uint32),
        ("tls_verify", sack_tcp_verify_cb),
        ("tls_verify_user_data", c_void_p),
        ("tls_client_hello", sack_tcp_client_hello_cb),
        ("tls_client_hello_user_data", c_void_p),
        ("unix_mode", c_uint32),
    ]


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_REPO_ROOT = os.path.abspath(os.path.join(_PACKAGE_DIR, "..", "..", ".."))
_NAMES = ("libsack_tcp.so", "libsack_tcp.so.*", "libsack_tcp.dylib", "libsack_tcp.*.dylib",
          "sack_tcp.dll")


def _candidates_in(directory):
    found = []
    for pattern in _NAMES:
        # Exact names first, then versioned ones, shortest (least specific) first.
        found.extend(sorted(glob.glob(os.path.join(directory, pattern)), key=len))
    return [f for f in found if os.path.isfile(f) and not f.endswith(".debug")]


def library_candidates_with_origin():
    """(path, origin) pairs in the order tried; origin is one of "SACK_TCP_LIB",
    "package", "checkout release build", "checkout debug build", "system"."""
    out = []
    env = os.environ.get("SACK_TCP_LIB")
    if env:
        paths = _candidates_in(env) if os.path.isdir(env) else [env]
        out.extend((p, "SACK_TCP_LIB") for p in paths)
        return out  # an explicit choice: nothing else is tried
    out.extend((p, "package") for p in _candidates_in(_PACKAGE_DIR))
    if os.path.isfile(os.path.join(_REPO_ROOT, "Cargo.toml")):
        # A checkout: the optimised build first, the debug one after it.
        for profile, origin in (("release", "checkout release build"),
                                ("debug", "checkout debug build")):
            out.extend((p, origin)
                       for p in _candidates_in(os.path.join(_REPO_ROOT, "target", profile)))
    system = ctypes.util.find_library("sack_tcp")
    if system:
        out.append((system, "system"))
    return out


def library_candidates():
    """The paths tried, in order (the last entry may be a bare name for the
    system loader)."""
    return [p for p, _ in library_candidates_with_origin()]


def _load():
    errors = []
    env = os.environ.get("SACK_TCP_LIB")
    for path, origin in library_candidates_with_origin():
        try:
            return ctypes.CDLL(path), path, origin
        except OSError as e:
            errors.append(f"{path}: {e}")
            if env:
                # An explicit choice that fails is an error, not a hint.
                raise LibraryNotFoundError(f"SACK_TCP_LIB={env!r} could not be loaded: {e}")
    if env:
        raise LibraryNotFoundError(f"SACK_TCP_LIB={env!r}: no sack_tcp library there")
    detail = "; ".join(errors) if errors else "no candidate found"
    raise LibraryNotFoundError(
        "libsack_tcp not found: install the package with `pip install bindings/python` "
        f"(it builds and ships the library), set SACK_TCP_LIB, or run `cargo build --release` "
        f"in {_REPO_ROOT}: {detail}"
    )


#: ``lib`` the loaded library, ``library_path`` its file, ``library_origin``
#: where it came from ("package", "checkout release build", ...).
lib, library_path, library_origin = _load()

_R = sack_tcp_result
_SIGNATURES = {
    # name: (restype, argtypes)
    "sack_tcp_runtime_options_init_sized": (_R, [POINTER(sack_tcp_runtime_options), c_size_t]),
    "sack_tcp_runtime_start": (_R, [POINTER(sack_tcp_runtime_options)]),
    "sack_tcp_shutdown": (_R, []),
    "sack_tcp_wait_live_handles": (c_size_t, [c_size_t, c_uint32]),
    "sack_tcp_version": (c_uint32, []),
    "sack_tcp_version_string": (c_char_p, []),
    "sack_tcp_dispatch": (_R, [c_size_t, POINTER(c_size_t)]),
    "sack_tcp_get_event_fd": (_R, [POINTER(c_int32)]),
    "sack_tcp_set_log_callback": (_R, [sack_tcp_log_cb, c_void_p, c_int32]),
    "sack_tcp_live_handles": (c_size_t, []),
    "sack_tcp_strerror": (c_char_p, [_R]),
    "sack_tcp_error_name": (c_char_p, [_R]),
    "sack_tcp_last_error_message": (c_char_p, []),
    "sack_tcp_options_init_sized": (_R, [POINTER(sack_tcp_options), c_size_t]),
    "sack_tcp_open": (_R, [POINTER(sack_tcp_options), POINTER(sack_tcp_p)]),
    "sack_tcp_send": (_R, [sack_tcp_p, c_char_p, c_size_t]),
    "sack_tcp_send_borrowed": (
        _R, [sack_tcp_p, c_void_p, c_size_t, sack_tcp_send_done_cb, c_void_p]),
    "sack_tcp_close": (_R, [sack_tcp_p]),
    "sack_tcp_abort": (_R, [sack_tcp_p]),
    "sack_tcp_pause": (_R, [sack_tcp_p]),
    "sack_tcp_resume": (_R, [sack_tcp_p]),
    "sack_tcp_end": (_R, [sack_tcp_p]),
    "sack_tcp_retain": (_R, [sack_tcp_p]),
    "sack_tcp_free": (None, [sack_tcp_p]),
    "sack_tcp_on_connect": (_R, [sack_tcp_p, sack_tcp_connect_cb]),
    "sack_tcp_on_ready": (_R, [sack_tcp_p, sack_tcp_ready_cb]),
    "sack_tcp_on_message": (_R, [sack_tcp_p, sack_tcp_message_cb]),
    "sack_tcp_on_close": (_R, [sack_tcp_p, sack_tcp_close_cb]),
    "sack_tcp_on_error": (_R, [sack_tcp_p, sack_tcp_error_cb]),
    "sack_tcp_on_drain": (_R, [sack_tcp_p, sack_tcp_drain_cb]),
    "sack_tcp_on_end": (_R, [sack_tcp_p, sack_tcp_end_cb]),
    "sack_tcp_set_user_data": (_R, [sack_tcp_p, c_void_p]),
    "sack_tcp_get_user_data": (_R, [sack_tcp_p, POINTER(c_void_p)]),
    "sack_tcp_set_read_strings": (_R, [sack_tcp_p, c_bool]),
    "sack_tcp_get_read_strings": (_R, [sack_tcp_p, POINTER(c_bool)]),
    "sack_tcp_get_queued_bytes": (_R, [sack_tcp_p, POINTER(c_size_t)]),
    "sack_tcp_is_listener": (_R, [sack_tcp_p, POINTER(c_bool)]),
    "sack_tcp_get_local_address": (_R, [sack_tcp_p, POINTER(c_char), c_size_t]),
    "sack_tcp_get_local_port": (_R, [sack_tcp_p, POINTER(c_uint16)]),
    "sack_tcp_get_remote_address": (_R, [sack_tcp_p, POINTER(c_char), c_size_t]),
    "sack_tcp_get_remote_port": (_R, [sack_tcp_p, POINTER(c_uint16)]),
    "sack_tcp_get_ports": (_R, [sack_tcp_p, POINTER(c_uint16), c_size_t, POINTER(c_size_t)]),
    "sack_tcp_add_cert": (_R, [sack_tcp_p, c_char_p, c_char_p, c_char_p, c_char_p]),
    "sack_tcp_set_ssl": (_R, [sack_tcp_p, c_bool]),
    "sack_tcp_get_ssl": (_R, [sack_tcp_p, POINTER(c_bool)]),
    "sack_tcp_set_allow_ssl_fallback": (_R, [sack_tcp_p, c_bool]),
    "sack_tcp_get_alpn": (_R, [sack_tcp_p, POINTER(c_char), c_size_t]),
    # issue 15 (src/ffi/net.rs)
    "sack_tcp_set_no_delay": (_R, [sack_tcp_p, c_bool]),
    "sack_tcp_set_keep_alive": (_R, [sack_tcp_p, c_uint32, c_uint32, c_uint32]),
    "sack_tcp_set_user_timeout": (_R, [sack_tcp_p, c_uint32]),
    "sack_tcp_set_idle_timeout": (_R, [sack_tcp_p, c_uint32]),
    "sack_tcp_get_fd": (_R, [sack_tcp_p, POINTER(c_int32)]),
    "sack_tcp_get_stats": (_R, [sack_tcp_p, POINTER(sack_tcp_stats), c_size_t]),
    "sack_tcp_get_connection_count": (_R, [sack_tcp_p, POINTER(c_size_t)]),
    "sack_tcp_get_peer_credentials": (_R, [sack_tcp_p, POINTER(c_int32), POINTER(c_uint32),
                                           POINTER(c_uint32)]),
    "sack_tcp_set_max_connections": (_R, [sack_tcp_p, c_uint32]),
    "sack_tcp_open_listener_fd": (_R, [POINTER(sack_tcp_options), c_int32, POINTER(sack_tcp_p)]),
    "sack_tcp_adopt_fd": (_R, [POINTER(sack_tcp_options), c_int32, POINTER(sack_tcp_p)]),
    "sack_tcp_set_key_log_callback": (_R, [sack_tcp_key_log_cb, c_void_p]),
    "sack_tcp_reload_tls": (_R, [sack_tcp_p, POINTER(sack_tcp_options)]),
    "sack_tcp_remove_cert": (_R, [sack_tcp_p, c_char_p, POINTER(c_size_t)]),
    "sack_tcp_get_cert_expiry": (_R, [sack_tcp_p, POINTER(c_int64)]),
    "sack_tcp_get_tls_info": (_R, [sack_tcp_p, POINTER(sack_tcp_tls_info), c_size_t]),
    "sack_tcp_get_peer_certificate": (_R, [sack_tcp_p, c_size_t, POINTER(c_uint8), c_size_t,
                                           POINTER(c_size_t)]),
    "sack_tcp_get_peer_subject": (_R, [sack_tcp_p, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "sack_tcp_get_peer_san": (_R, [sack_tcp_p, c_size_t, POINTER(c_char), c_size_t,
                                   POINTER(c_size_t)]),
}

_missing = []
for _name, (_restype, _argtypes) in _SIGNATURES.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        _missing.append(_name)
        continue
    _fn.restype = _restype
    _fn.argtypes = _argtypes
    globals()[_name] = _fn
if _missing:
    raise LibraryLayoutError(
        f"{library_path} lacks {', '.join(_missing)}: not the sack_tcp this binding was written for"
    )

# --------------------------------------------------------------------------
# Layout self-check
# --------------------------------------------------------------------------

# The init functions write the *library's* idea of the struct, struct_size
# included. They get a scratch buffer much larger than ours so that a newer

def _check_layout():
    """The library fills a struct of our size with its defaults; if the
    defaults land where this binding expects them, the layouts agree."""
    o = sack_tcp_options()
    rc = lib.sack_tcp_options_init_sized(ctypes.byref(o), ctypes.sizeof(o))
    if rc != SACK_TCP_OK or o.struct_size != ctypes.sizeof(o) or o.read_buffer_size != 4096 \
            or not o.no_delay or o.send_queue_limit != 16 << 20:
        raise LibraryLayoutError(
            f"sack_tcp_options layout mismatch with {library_path}: update "
            "bindings/python/sack_tcp/_ffi.py to match include/sack_tcp.h"
        )


_check_layout()


def options_init():
    """A sack_tcp_options filled by the library's defaults (layout checked)."""
    o = sack_tcp_options()
    rc = lib.sack_tcp_options_init_sized(ctypes.byref(o), ctypes.sizeof(o))
    if rc != SACK_TCP_OK:
        raise OSError(f"sack_tcp_options_init_sized failed: {rc}")
    return o


def runtime_options_init():
    o = sack_tcp_runtime_options()
    rc = lib.sack_tcp_runtime_options_init_sized(ctypes.byref(o), ctypes.sizeof(o))
    if rc != SACK_TCP_OK:
        raise OSError(f"sack_tcp_runtime_options_init_sized failed: {rc}")
    return o


__all__ = sorted(
    [n for n in globals() if n.startswith(("sack_tcp", "SACK_TCP_"))]
    + ["lib", "library_path", "library_origin", "library_candidates",
       "library_candidates_with_origin", "options_init", "runtime_options_init",
       "LibraryLayoutError", "LibraryNotFoundError", "CONSTANTS"]
)

del _name, _restype, _argtypes, _missing
if "_fn" in globals():
    del _fn
