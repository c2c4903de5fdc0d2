"""Which sack_tcp the tests import.

By default the package in this checkout (bindings/python/sack_tcp), with the
library it finds (``sack_tcp.library_origin`` says which). With
``SACK_TCP_TEST_INSTALLED=1`` (test_wheel.sh sets it) the checkout is left
off ``sys.path``: the tests must import the package pip installed, and that
package must load the library shipped inside it.
"""

import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
PY_ROOT = HERE.parent
REPO = PY_ROOT.parent.parent
INSTALLED = os.environ.get("SACK_TCP_TEST_INSTALLED") == "1"
if not INSTALLED and str(PY_ROOT) not in sys.path:
    sys.path.insert(0, str(PY_ROOT))

import sack_tcp  # noqa: E402

if INSTALLED:
    where = pathlib.Path(sack_tcp.__file__).resolve()
    if PY_ROOT in where.parents:
        raise ImportError(f"SACK_TCP_TEST_INSTALLED=1 but sack_tcp came from the checkout: {where}")
    if sack_tcp.library_origin != "package" and "SACK_TCP_LIB" not in os.environ:
        raise ImportError(f"the installed sack_tcp loaded {sack_tcp.library_path} "
                          f"({sack_tcp.library_origin}), not the library inside the package")

#: Where a child `python -c "import sack_tcp"` imports the same package:
#: the checkout's directory, or anywhere for the installed package.
CHILD_CWD = str(PY_ROOT) if not INSTALLED else str(pathlib.Path(sys.prefix))
