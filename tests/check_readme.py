#!/usr/bin/env python3
"""The README's code blocks are copies of code the tests run: the C blocks are
examples/minimal.c and examples/minimal-cond.c; the Python and Rust blocks
are blocks of the bindings' READMEs, which the binding tests execute or
compare. Fail when one drifts.

usage: check_readme.py SOURCE_ROOT
"""
import os
import re
import sys


def blocks(path, lang):
    return re.findall(r"```" + lang + r"\n(.*?)```", open(path).read(), flags=re.S)


def main(root):
    readme = os.path.join(root, "README.md")
    sources = {
        "c": [open(os.path.join(root, "examples", name)).read()
              for name in ("minimal.c", "minimal-cond.c")],
        "python": blocks(os.path.join(root, "bindings", "python", "README.md"), "python"),
        "rust": blocks(os.path.join(root, "bindings", "rust", "README.md"), "rust"),
    }
    failures = 0
    for lang, originals in sources.items():
        shown = blocks(readme, lang)
        if not shown:
            print(f"FAIL: README.md shows no {lang} example")
            failures += 1
        for block in shown:
            if block not in originals:
                print(f"FAIL: README.md's {lang} block is not a copy of the tested one:\n{block}")
                failures += 1
            else:
                print(f"ok: README.md's {lang} block matches the tested source")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
