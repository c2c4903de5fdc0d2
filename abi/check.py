#!/usr/bin/env python3
"""The ABI check: the library built now against the ABI recorded in abi/.

    check.py check  LIB        abidw LIB, abidiff against the baseline: fails
                               on a change that breaks callers built against
                               the recorded header (a removed function, a
                               changed parameter, return or struct layout);
                               passes on additions (new functions, fields
                               appended to the versioned options structs)
    check.py update LIB        rewrite the baseline from LIB (a release does
                               this; see abi/README.md)
    check.py selftest LIB      proves the policy on edited copies of LIB's ABI:
                               an addition passes, a removal and a layout
                               change fail

LIB must carry debug information (the Debug build's lib/libsack_tcp.so.X.Y.Z).
Needs abidw and abidiff (Debian's abigail-tools).
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE = os.path.join(HERE, "libsack_tcp.so.0.abi")
SUPPRESSIONS = os.path.join(HERE, "sack_tcp.abignore")


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return sorted(line.split()[-1] for line in out.splitlines()
                  if line.split()[-1].startswith("sack_tcp_"))


def abidw(lib, out_path):
    """The ABI of LIB's exported sack_tcp_* functions, without source
    locations or the build's paths, with stable (hashed) type ids."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as wl:
        wl.write("[sack_tcp_exports]\n")
        for name in exported(lib):
            wl.write(f"  {name}\n")
    try:
        xml = subprocess.run(["abidw", "--kmi-whitelist", wl.name, "--no-show-locs",
                              "--no-corpus-path", "--type-id-style", "hash", lib],
                             check=True, capture_output=True, text=True, timeout=300).stdout
    finally:
        os.unlink(wl.name)
    if "<function-decl name='sack_tcp_open'" not in xml:
        sys.exit(f"abidw found no debug information for sack_tcp_open in {lib}; "
                 "use a build with debug info (Debug or RelWithDebInfo)")
    with open(out_path, "w") as f:
        f.write(xml)


VERSIONED = ("sack_tcp_options", "sack_tcp_runtime_options")


def _struct_layout(xml, name):
    """(size in bits, [(member, offset, type id)]) of a struct in an abidw file."""
    m = re.search(r"<class-decl name='(?:[\w:]*::)?%s' size-in-bits='(\d+)'[^>]*>(.*?)</class-decl>"
                  % name, xml, flags=re.S)
    if not m:
        return None
    members = re.findall(r"<data-member access='public' layout-offset-in-bits='(\d+)'>\s*"
                         r"<var-decl name='(\w+)' type-id='([^']+)'", m.group(2))
    return int(m.group(1)), [(n, int(off), t) for off, n, t in members]


def versioned_structs(old_xml, new_xml):
    """The rule for the structs versioned by struct_size (DESIGN.md): every
    old field stays at its offset with its type, and a new field starts at
    or after the old sizeof, never in its tail padding. Returns problems."""
    problems = []
    for name in VERSIONED:
        old, new = _struct_layout(old_xml, name), _struct_layout(new_xml, name)
        if old is None:
            continue
        if new is None:
            problems.append(f"{name}: gone")
            continue
        old_size, old_members = old
        _, new_members = new
        new_by_name = {n: (off, t) for n, off, t in new_members}
        for n, off, t in old_members:
            if n not in new_by_name:
                problems.append(f"{name}.{n}: removed")
            elif new_by_name[n] != (off, t):
                problems.append(f"{name}.{n}: offset/type changed ({off}, {t}) -> {new_by_name[n]}")
        old_names = {n for n, _, _ in old_members}
        for n, off, _ in new_members:
            if n not in old_names and off < old_size:
                problems.append(f"{name}.{n}: new field at bit {off}, inside the old layout "
                                f"(sizeof {old_size} bits): old callers' struct_size covers it")
    return problems


def abidiff(old, new):
    """(ok, report): ok unless the change can break an old caller."""
    with open(old) as f:
        old_xml = f.read()
    with open(new) as f:
        new_xml = f.read()
    problems = versioned_structs(old_xml, new_xml)
    if problems:
        return False, "versioned struct rule broken:\n  " + "\n  ".join(problems)
    r = subprocess.run(["abidiff", "--suppressions", SUPPRESSIONS, "--no-show-locs",
                        old, new], capture_output=True, text=True, timeout=300)
    report = r.stdout + r.stderr
    if r.returncode & 3:
        return False, f"abidiff failed ({r.returncode}):\n{report}"
    if r.returncode & 8:
        return False, report  # libabigail's own verdict: incompatible
    # Left: additions, or changes abidiff cannot judge. Anything removed or
    # changed (after the suppressions) is a break.
    counts = [int(m) for m in re.findall(r"(\d+) (?:Removed|Changed)", report)]
    return not any(counts), report


# The published first layouts of the versioned structs end at these fields
# (DESIGN.md: the minimum struct_size is the end of the first layout's last
# field). Fields after them were added later, so the recorded ABI leaves
# them out and records the struct as ending there: a later field must start
# at or after that end (the library's own compile-time check keeps new
# fields past the first layout's sizeof).
PUBLISHED_LAST_FIELD = {
    "sack_tcp_options": "handshake_timeout_ms",
    "sack_tcp_runtime_options": "worker_threads",
}


def published(xml):
    """The ABI with the versioned structs cut back to their published layout."""
    for name, last in PUBLISHED_LAST_FIELD.items():
        m = re.search(r"(<class-decl name='(?:[\w:]*::)?%s' size-in-bits=')(\d+)('[^>]*>)(.*?)(\s*</class-decl>)"
                      % name, xml, flags=re.S)
        if not m:
            sys.exit(f"{name} not found in the ABI")
        members = re.findall(r"\s*<data-member access='public' layout-offset-in-bits='(\d+)'>\s*"
                             r"<var-decl name='(\w+)' type-id='([^']+)'[^>]*/>\s*</data-member>",
                             m.group(4))
        blocks = re.findall(r"\s*<data-member .*?</data-member>", m.group(4), flags=re.S)
        names = [n for _, n, _ in members]
        if last not in names:
            sys.exit(f"{name}.{last} not found in the ABI")
        keep = names.index(last) + 1
        off, _, type_id = members[keep - 1]
        size = re.search(r"<type-decl name='[^']*' size-in-bits='(\d+)' id='%s'" % re.escape(type_id), xml)
        if not size:
            sys.exit(f"size of {name}.{last}'s type not found in the ABI")
        end = int(off) + int(size.group(1))
        xml = xml[:m.start()] + m.group(1) + str(end) + m.group(3) + "".join(blocks[:keep]) \
            + m.group(5) + xml[m.end():]
    return xml


def check(lib):
    with tempfile.TemporaryDirectory() as d:
        now = os.path.join(d, "now.abi")
        abidw(lib, now)
        ok, report = abidiff(BASELINE, now)
    print(report.strip() or "no ABI change")
    if not ok:
        sys.exit("ABI BREAK against abi/libsack_tcp.so.0.abi: old callers would break. "
                 "Undo the change, or make it a new soname (abi/README.md).")
    print("ABI check passed: compatible with abi/libsack_tcp.so.0.abi")


def _drop_function(xml, name):
    xml = re.sub(r"\s*<function-decl name='%s'.*?</function-decl>" % name, "", xml, flags=re.S)
    return re.sub(r"\s*<elf-symbol name='%s'[^>]*/>" % name, "", xml)


def _set_options_size(xml, bits):
    return re.sub(r"(<class-decl name='(?:[\w:]*::)?sack_tcp_options' size-in-bits=')\d+'",
                  r"\g<1>%d'" % bits, xml, count=1)


def _add_tail_field(xml, offset):
    """A u32 field 'probe_tail' added to sack_tcp_options at bit offset."""
    m = re.search(r"<var-decl name='handshake_timeout_ms' type-id='([^']+)'", xml)
    if not m:
        return xml
    member = ("<data-member access='public' layout-offset-in-bits='%d'>"
              "<var-decl name='probe_tail' type-id='%s' visibility='default'/></data-member>"
              % (offset, m.group(1)))
    return re.sub(r"(<class-decl name='(?:[\w:]*::)?sack_tcp_options' .*?)(\s*</class-decl>)",
                  lambda mm: mm.group(1) + member + mm.group(2), xml, count=1, flags=re.S)


def _move_port(xml):
    return re.sub(r"layout-offset-in-bits='64'>(\s*)<var-decl name='port'",
                  r"layout-offset-in-bits='96'>\1<var-decl name='port'", xml, count=1)


def _change_send_return(xml):
    """sack_tcp_send returning a u64 instead of its i32 result."""
    u64 = re.search(r"<type-decl name='u64' size-in-bits='64' id='([^']+)'", xml)
    if not u64:
        return xml
    return re.sub(r"(<function-decl name='sack_tcp_send'.*?<return type-id=')[^']+'",
                  r"\g<1>%s'" % u64.group(1), xml, count=1, flags=re.S)


def selftest(lib):
    with tempfile.TemporaryDirectory() as d:
        now = os.path.join(d, "now.abi")
        abidw(lib, now)
        with open(now) as f:
            xml = f.read()
        cases = [
            # (name, old ABI, new ABI, must pass)
            ("unchanged", xml, xml, True),
            ("function added", _drop_function(xml, "sack_tcp_wait_live_handles"), xml, True),
            # The published layout against today's: every field added since
            # the first layout is an addition (what abi.check sees).
            ("options fields appended", published(xml), xml, True),
            # A field placed in the first layout's tail padding (its C sizeof
            # is 1856 bits, its last field ends at 1824): an old caller's
            # struct_size covers those bytes, so the library would read the
            # caller's padding as the new field (DESIGN.md, "Versioned structs").
            ("options field in tail padding", _set_options_size(published(xml), 1856),
             _set_options_size(_add_tail_field(published(xml), 1824), 1856), False),
            ("function removed", xml, _drop_function(xml, "sack_tcp_abort"), False),
            ("options field moved", xml, _move_port(xml), False),
            ("return type changed", xml, _change_send_return(xml), False),
        ]
        failures = []
        for name, old, new, must_pass in cases:
            if old == new and name != "unchanged":
                failures.append(f"{name}: the edit did not apply (the ABI file's form changed?)")
                continue
            paths = []
            for tag, text in (("old", old), ("new", new)):
                p = os.path.join(d, f"{name.replace(' ', '_')}.{tag}.abi")
                with open(p, "w") as f:
                    f.write(text)
                paths.append(p)
            ok, report = abidiff(*paths)
            verdict = "passes" if ok else "fails"
            print(f"{name}: {verdict} (expected {'pass' if must_pass else 'fail'})")
            if ok != must_pass:
                failures.append(f"{name}: {verdict}\n{report}")
        if failures:
            sys.exit("ABI policy self-test failed:\n" + "\n".join(failures))
    print("ABI policy self-test passed")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "update", "selftest"):
        sys.exit(__doc__)
    cmd, lib = sys.argv[1:]
    if cmd == "update":
        abidw(lib, BASELINE)
        with open(BASELINE) as f:
            xml = published(f.read())
        with open(BASELINE, "w") as f:
            f.write(xml)
        print(f"wrote {BASELINE}")
    elif cmd == "check":
        check(lib)
    else:
        selftest(lib)


if __name__ == "__main__":
    main()
