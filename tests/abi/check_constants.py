#!/usr/bin/python3
"""Check that the public constants keep their released values.

Status codes, kinds, setting ids and every other enumerator travel between
programs and the library as plain ints, so abidiff cannot see them: a
renumbered enumerator breaks every program built before it without changing
one function's type. This test compares the enumerators and integer macros
of the public headers with tests/abi/constants.txt, the list of the 1.0.0
release: each listed name must still exist with the same value; new names
may appear.

usage: check_constants.py HEADER_DIR BASELINE            check
       check_constants.py HEADER_DIR BASELINE --update   rewrite the baseline
                                                        (only at a release)
"""

import os
import re
import sys

ENUM = re.compile(r"\benum\b[^{;]*\{(.*?)\}", re.S)
MEMBER = re.compile(r"\b(SCORESDE_[A-Z0-9_]+)\s*=\s*(-?[0-9]+)\s*[,}]?")
DEFINE = re.compile(r"^#define\s+(SCORESDE_[A-Z0-9_]+)\s+(-?[0-9]+)\s*$", re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def header_constants(header_dir):
    found = {}
    for name in sorted(os.listdir(header_dir)):
        if not name.endswith(".h"):
            continue
        text = COMMENT.sub(" ", open(os.path.join(header_dir, name), encoding="utf-8").read())
        pairs = [m for body in ENUM.findall(text) for m in MEMBER.findall(body + ",")]
        pairs += DEFINE.findall(text)
        for const, value in pairs:
            if const in found and found[const] != int(value):
                sys.exit(f"{const} has two values in the headers")
            found[const] = int(value)
    return found


def main():
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] != "--update"):
        sys.exit(__doc__)
    header_dir, baseline = sys.argv[1], sys.argv[2]
    current = header_constants(header_dir)
    if len(current) < 50:
        sys.exit(f"only {len(current)} constants found in {header_dir}: is it the header folder?")
    if len(sys.argv) == 4:
        with open(baseline, "w", encoding="utf-8") as out:
            out.write("# Public constants of the 1.0.0 release (tests/abi/check_constants.py).\n")
            for const in sorted(current):
                out.write(f"{const} {current[const]}\n")
        print(f"wrote {len(current)} constants to {baseline}")
        return 0
    bad = 0
    released = set()
    for line in open(baseline, encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        const, value = line.split()
        released.add(const)
        if const not in current:
            print(f"FAIL: {const} (released as {value}) is gone from the headers")
            bad += 1
        elif current[const] != int(value):
            print(f"FAIL: {const} was released as {value}, the headers now say {current[const]}")
            bad += 1
    added = len(set(current) - released)
    print(f"{len(released)} released constants checked, {bad} changed or gone; {added} new")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
