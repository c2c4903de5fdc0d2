#!/usr/bin/env python3
"""Every public function of the header has a documentation comment.

    check_comments.py [HEADER]     (default: include/sack_tcp.h)

A function declaration (`SACK_TCP_API ... sack_tcp_name(`) must follow a
`/** ... */` comment directly (only the `SACK_TCP_API` line may come
between). Prints the undocumented functions and exits 1 if there are any.
It also checks itself: the same rule applied to a copy of the header with
one undocumented function added must find exactly that one.
"""

import os
import re
import sys

DECL = re.compile(r"^(?:SACK_TCP_API\s+)?[A-Za-z_][\w \t*]*?[\s*](sack_tcp_\w+)\s*\(")


def undocumented(lines):
    missing, found = [], []
    for i, line in enumerate(lines):
        m = DECL.match(line)
        if not m or line.lstrip().startswith(("*", "/", "#", "typedef")):
            continue
        found.append(m.group(1))
        j = i - 1
        if j >= 0 and lines[j].strip() == "SACK_TCP_API":
            j -= 1
        # The comment must end right above, and be a /** comment.
        ok = j >= 0 and lines[j].strip().endswith("*/")
        if ok:
            k = j
            while k >= 0 and "/*" not in lines[k]:
                k -= 1
            ok = k >= 0 and "/**" in lines[k]
        if not ok:
            missing.append(m.group(1))
    return found, missing


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    header = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "include", "sack_tcp.h")
    with open(header, encoding="utf-8") as f:
        lines = f.read().splitlines()
    found, missing = undocumented(lines)
    if len(found) < 10:
        sys.exit(f"{header}: found only {len(found)} function declarations; is the parser broken?")
    # Self-check: an undocumented declaration after the first documented one.
    probe = list(lines)
    at = next(i for i, line in enumerate(probe) if DECL.match(line)) + 1
    probe.insert(at, "SACK_TCP_API void sack_tcp_probe_undocumented(void);")
    _, probe_missing = undocumented(probe)
    if probe_missing != missing + ["sack_tcp_probe_undocumented"] and \
            sorted(probe_missing) != sorted(missing + ["sack_tcp_probe_undocumented"]):
        sys.exit(f"self-check failed: an undocumented probe was not found ({probe_missing})")
    if missing:
        print(f"{header}: public functions without a documentation comment:", file=sys.stderr)
        for name in missing:
            print(f"  {name}", file=sys.stderr)
        print("Add a /// doc comment to the function in src/ffi (cbindgen copies it).",
              file=sys.stderr)
        sys.exit(1)
    print(f"{header}: all {len(found)} public functions have a documentation comment")


if __name__ == "__main__":
    main()
