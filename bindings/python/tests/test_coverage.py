"""The binding covers the whole C API of include/sack_tcp.h.

The header is parsed here (functions, the fields of every struct, the
SACK_TCP_* constants), and each test fails when the header has something
the binding lacks: a function without a ctypes signature or without a
Python API exposing it (sack_tcp.C_API_COVERAGE), an options field missing
from the ctypes struct or from the options open() accepts, a constant not
in sack_tcp._ffi. So a header change that adds to the API fails here until
the binding follows.
"""

import os
import re
import unittest

from _bootstrap import REPO

import sack_tcp
from sack_tcp import _ffi

HEADER = os.environ.get("SACK_TCP_HEADER", str(REPO / "include" / "sack_tcp.h"))


def _header_text():
    with open(HEADER, encoding="utf-8") as f:
        text = f.read()
    # Comments out, so that prose never looks like a declaration.
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def header_functions():
    text = _header_text()
    return sorted(set(re.findall(r"^(?:SACK_TCP_API\s+)?[A-Za-z_][\w \t*]*?[\s*](sack_tcp_\w+)\s*\(",
                                 text, flags=re.M)))


def header_structs():
    """{typedef name: [field names in order]} of every typedef'd struct."""
    text = _header_text()
    out = {}
    for body, name in re.findall(r"typedef struct(?:\s+\w+)?\s*\{(.*?)\}\s*(\w+)\s*;", text, flags=re.S):
        fields = []
        for decl in body.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            m = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl) or re.search(r"(\w+)\s*(?:\[[^\]]*\])?$", decl)
            fields.append(m.group(1))
        out[name] = fields
    return out


def header_constants():
    text = _header_text()
    return {name: int(value) for name, value in
            re.findall(r"^#define\s+(SACK_TCP_\w+)\s+(-?\d+)\s*$", text, flags=re.M)
            if not name.startswith("SACK_TCP_VERSION_")}


class TestCoverage(unittest.TestCase):
    def test_parser_sees_the_header(self):
        # Guards the parsing itself: a parser that finds nothing passes nothing.
        self.assertIn("sack_tcp_open", header_functions())
        self.assertGreaterEqual(len(header_functions()), 40)
        self.assertIn("idle_timeout_ms", header_structs()["sack_tcp_options"])
        self.assertEqual(header_constants()["SACK_TCP_ERR_REFUSED"], -5)

    def test_every_function_has_a_signature(self):
        missing = [f for f in header_functions() if f not in _ffi._SIGNATURES]
        self.assertEqual(missing, [], "functions of the header without a ctypes signature in "
                                      "bindings/python/sack_tcp/_ffi.py")

    def test_every_function_has_a_python_api(self):
        missing = [f for f in header_functions() if f not in sack_tcp.C_API_COVERAGE]
        self.assertEqual(missing, [], "functions of the header with no Python API "
                                      "(sack_tcp.C_API_COVERAGE)")
        for c_name, py_name in sack_tcp.C_API_COVERAGE.items():
            obj = sack_tcp
            parts = py_name.split(".")
            for i, part in enumerate(parts):
                if obj is sack_tcp.Socket and part in sack_tcp.CALLBACK_NAMES:
                    break  # callbacks are instance attributes
                self.assertTrue(hasattr(obj, part), f"{c_name}: sack_tcp.{py_name} does not exist")
                obj = getattr(obj, part)

    def test_struct_fields_match_in_order(self):
        structs = header_structs()
        for name in ("sack_tcp_options", "sack_tcp_runtime_options", "sack_tcp_tls_host",
                     "sack_tcp_stats", "sack_tcp_tls_info", "sack_tcp_peer_chain",
                     "sack_tcp_client_hello"):
            ours = [f for f, _ in getattr(_ffi, name)._fields_]
            self.assertEqual(ours, structs[name], f"{name}: ctypes fields differ from the header")
        self.assertEqual(sorted(structs), sorted(["sack_tcp_options", "sack_tcp_runtime_options",
                                                   "sack_tcp_tls_host", "sack_tcp_stats",
                                                   "sack_tcp_tls_info", "sack_tcp_peer_chain",
                                                   "sack_tcp_client_hello"]),
                         "the header has a struct the binding does not declare")

    def test_every_option_is_accepted(self):
        # the binding fills these
        internal = {"struct_size", "user_data", "hosts_count", "tls_verify_user_data",
                    "tls_client_hello_user_data"}
        accepted = set(sack_tcp.OPTION_NAMES) | set(sack_tcp.CALLBACK_NAMES) | internal
        missing = [f for f in header_structs()["sack_tcp_options"] if f not in accepted]
        self.assertEqual(missing, [], "options fields open() does not accept")

    def test_runtime_options_are_accepted(self):
        import inspect
        params = set(inspect.signature(sack_tcp.runtime_start).parameters)
        missing = [f for f in header_structs()["sack_tcp_runtime_options"]
                   if f != "struct_size" and f not in params]
        self.assertEqual(missing, [], "runtime options runtime_start() does not take")

    def test_every_constant_is_known(self):
        for name, value in header_constants().items():
            self.assertIn(name, _ffi.CONSTANTS, f"{name} missing from sack_tcp._ffi")
            self.assertEqual(_ffi.CONSTANTS[name], value, name)


if __name__ == "__main__":
    unittest.main()
