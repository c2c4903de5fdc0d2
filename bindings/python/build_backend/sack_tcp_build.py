"""A small PEP 517 build backend for the sack_tcp Python package.

``pip install bindings/python`` (or ``pip wheel``) calls ``build_wheel``:
it runs cargo on the repository around this directory, in the release
profile, and writes a wheel holding the pure-Python package ``sack_tcp``
with ``libsack_tcp.so`` next to its modules. The wheel is tagged
``py3-none-<platform>`` because it carries a native library but no
Python extension module (ctypes loads it).

Why not setuptools-rust or maturin: they build Python extension modules
(PyO3) or need packages from PyPI at build time; this binding is ctypes
over the C ABI, and the build needs nothing but cargo and the standard
library.

Environment:
  CARGO                  the cargo to run (default: cargo on PATH, then ~/.cargo/bin)
  CARGO_TARGET_DIR       cargo's target directory (default: <repo>/target)
  SACK_TCP_CARGO_PROFILE the cargo profile (default: release)
"""

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

_HERE = os.path.dirname(os.path.abspath(__file__))
_PYDIR = os.path.dirname(_HERE)
_ROOT = os.path.dirname(os.path.dirname(_PYDIR))
_NAME = "sack_tcp"


def _version():
    with open(os.path.join(_ROOT, "Cargo.toml"), encoding="utf-8") as f:
        m = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M)
    return m.group(1)


def _cargo():
    cargo = os.environ.get("CARGO") or shutil.which("cargo")
    if not cargo:
        home = os.path.join(os.path.expanduser("~"), ".cargo", "bin", "cargo")
        cargo = home if os.path.exists(home) else None
    if not cargo:
        raise RuntimeError("sack_tcp: cargo was not found; install Rust 1.80+ (https://rustup.rs) "
                           "or set CARGO=/path/to/cargo")
    return cargo


def _build_library():
    if not os.path.isfile(os.path.join(_ROOT, "Cargo.toml")):
        raise RuntimeError(f"sack_tcp: {_ROOT} is not the sack_tcp repository; build the wheel "
                           "from bindings/python inside a checkout (pip builds in place)")
    profile = os.environ.get("SACK_TCP_CARGO_PROFILE", "release")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(_ROOT, "target"))
    # The same command CMake's Release build runs (so the two share one build):
    # `cargo rustc` with only the C crate types, because cargo skips LTO for
    # a crate whose crate types include rlib.
    cmd = [_cargo(), "rustc", "--lib", "--crate-type", "cdylib,staticlib",
           "--profile", profile, "--target-dir", target]
    print("sack_tcp: " + " ".join(cmd), file=sys.stderr, flush=True)
    # cargo's progress goes to pip's output (pip -v shows it).
    subprocess.run(cmd, cwd=_ROOT, check=True, stdout=sys.stderr)
    outdir = {"dev": "debug", "test": "debug", "bench": "release"}.get(profile, profile)
    for name in ("libsack_tcp.so", "libsack_tcp.dylib", "sack_tcp.dll"):
        path = os.path.join(target, outdir, name)
        if os.path.isfile(path):
            return path
    raise RuntimeError(f"sack_tcp: cargo built no library in {os.path.join(target, outdir)}")


def _tag():
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{plat}"


def _metadata(version):
    readme = ""
    path = os.path.join(_PYDIR, "README.md")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            readme = f.read()
    return (f"Metadata-Version: 2.1\nName: sack-tcp\nVersion: {version}\n"
            "Summary: TCP and TLS servers and clients for Python over the sack_tcp C library (ctypes)\n"
            "License: MIT\nRequires-Python: >=3.8\n"
            "Description-Content-Type: text/markdown\n\n" + readme)


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _files(library):
    pkg = os.path.join(_PYDIR, _NAME)
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py"):
            yield f"{_NAME}/{name}", os.path.join(pkg, name)
    yield f"{_NAME}/{os.path.basename(library)}", library


# ---- PEP 517 hooks --------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    library = _build_library()
    tag = _tag()
    dist_info = f"{_NAME}-{version}.dist-info"
    wheel_name = f"{_NAME}-{version}-{tag}.whl"
    path = os.path.join(wheel_directory, wheel_name)
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        def add(arcname, data, mode=0o644):
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
            records.append(_record_line(arcname, data))

        for arcname, src in _files(library):
            with open(src, "rb") as f:
                data = f.read()
            add(arcname, data, 0o755 if src == library else 0o644)
        add(f"{dist_info}/METADATA", _metadata(version).encode())
        add(f"{dist_info}/WHEEL", (f"Wheel-Version: 1.0\nGenerator: sack_tcp_build\n"
                                   f"Root-Is-Purelib: false\nTag: {tag}\n").encode())
        add(f"{dist_info}/top_level.txt", f"{_NAME}\n".encode())
        records.append(f"{dist_info}/RECORD,,")
        z.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError("sack_tcp: no sdist of the binding alone (it needs the Rust sources); "
                       "build a wheel from the checkout, or use the CMake source package")
