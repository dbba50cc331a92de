#!/usr/bin/env python3
"""The ABI promise, checked: the shared library's exported symbols, the linker
version script and the SCORESDE_API declarations in the public headers name
exactly the same functions; nothing but scoresde_* is exported; every export
carries a SCORESDE_ version node; the umbrella header includes every module
header.

usage: check_symbols.py LIBRARY MAPFILE UMBRELLA_HEADER HEADER...
"""
import re
import subprocess
import sys


def exported_symbols(library):
    out = subprocess.run(["nm", "-D", "--defined-only", library], check=True,
                         capture_output=True, text=True).stdout
    symbols = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] == "A":  # version nodes are absolute symbols
            continue
        name, _, version = parts[2].partition("@")
        symbols[name] = version.lstrip("@")
    return symbols


def map_symbols(mapfile):
    text = re.sub(r"/\*.*?\*/", "", open(mapfile).read(), flags=re.S)
    names = re.findall(r"^\s*([A-Za-z_]\w*)\s*;", text, flags=re.M)
    return {n for n in names}


def header_symbols(headers):
    names = {}
    for header in headers:
        text = re.sub(r"/\*.*?\*/", "", open(header).read(), flags=re.S)
        text = re.sub(r"^\s*#.*$", "", text, flags=re.M)  # macros, including SCORESDE_API's own
        for decl in re.findall(r"\bSCORESDE_API\b([^;{]*?)\(", text):
            names[re.findall(r"(\w+)\s*$", decl)[0]] = header
    return names


def main(argv):
    library, mapfile, umbrella, headers = argv[1], argv[2], argv[3], argv[4:]
    problems = []
    exported = exported_symbols(library)
    mapped = map_symbols(mapfile)
    declared = header_symbols(headers)

    for name, version in sorted(exported.items()):
        if not name.startswith("scoresde_"):
            problems.append(f"exported symbol outside the scoresde_ namespace: {name}")
        if not version.startswith("SCORESDE_"):
            problems.append(f"exported symbol without a SCORESDE_ version node: {name}")
    for name in sorted(set(exported) - mapped):
        problems.append(f"exported but not in {mapfile}: {name}")
    for name in sorted(mapped - set(exported)):
        problems.append(f"in the version script but not exported (undefined?): {name}")
    for name in sorted(set(declared) - mapped):
        problems.append(f"declared SCORESDE_API in {declared[name]} but not in the version script: {name}")
    for name in sorted(mapped - set(declared)):
        problems.append(f"in the version script but declared in no public header: {name}")

    umbrella_text = open(umbrella).read()
    for header in headers:
        module = header.replace("\\", "/").split("/")[-1]
        if f'"scoresde/{module}"' not in umbrella_text:
            problems.append(f"scoresde.h does not include scoresde/{module}")

    for p in problems:
        print("FAIL:", p)
    print(f"{len(exported)} exported, {len(mapped)} in the version script, "
          f"{len(declared)} declared SCORESDE_API")
    return 1 if problems or not exported else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
