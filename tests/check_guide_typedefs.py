#!/usr/bin/env python3
"""The guide quotes the callback typedefs where it speaks of hooks. Every
function-pointer typedef the public headers declare must be quoted in a C
block of docs/guide/*.md, and every typedef quoted there must be the header's
text exactly (same line breaks and spaces), so the two cannot drift.

usage: check_guide_typedefs.py SOURCE_ROOT
"""
import glob
import os
import re
import sys

# One typedef of a function pointer: "typedef ... (*scoresde_name)(...);".
TYPEDEF = re.compile(r"^typedef [^;]*?\(\*(scoresde_\w+)\)\([^;]*\);", re.M)
# A fenced C block, possibly indented (inside a list item).
BLOCK = re.compile(r"^([ \t]*)```c\n(.*?)^\1```", re.M | re.S)


def dedent(text, indent):
    return "".join(line[len(indent):] if line.startswith(indent) else line
                   for line in text.splitlines(keepends=True))


def main(root):
    declared = {}
    for path in sorted(glob.glob(os.path.join(root, "include", "scoresde", "*.h"))):
        for m in TYPEDEF.finditer(open(path).read()):
            declared[m.group(1)] = (m.group(0), os.path.basename(path))
    if not declared:
        print("FAIL: found no callback typedef in include/scoresde/*.h")
        return 1
    quoted = {}
    failures = 0
    for path in sorted(glob.glob(os.path.join(root, "docs", "guide", "*.md"))):
        page = os.path.relpath(path, root)
        for block in BLOCK.finditer(open(path).read()):
            code = dedent(block.group(2), block.group(1))
            for m in TYPEDEF.finditer(code):
                name = m.group(1)
                quoted.setdefault(name, []).append(page)
                if name not in declared:
                    print(f"FAIL: {page} quotes {name}, which no header declares")
                    failures += 1
                elif m.group(0) != declared[name][0]:
                    print(f"FAIL: {page} quotes {name} differently from "
                          f"include/scoresde/{declared[name][1]}:\n{m.group(0)}\n"
                          f"the header says:\n{declared[name][0]}")
                    failures += 1
    for name, (_, header) in sorted(declared.items()):
        if name not in quoted:
            print(f"FAIL: the guide does not quote {name} (include/scoresde/{header})")
            failures += 1
        else:
            print(f"ok: {name} quoted in {', '.join(sorted(set(quoted[name])))}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
