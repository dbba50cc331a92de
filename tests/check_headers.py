#!/usr/bin/env python3
"""Every public header compiles on its own, first in a translation unit, with
-Wall -Wextra -pedantic -Werror: the C headers as C99 and as C++11, the C++
wrappers (scoresde.hpp) as C++17 (the C++ checks when a C++ compiler is
available).

usage: check_headers.py CC CXX|- INCLUDE_DIR... -- HEADER...
"""
import os
import subprocess
import sys
import tempfile


def main(argv):
    cc, cxx = argv[1], argv[2]
    split = argv.index("--")
    includes = [f"-I{d}" for d in argv[3:split]]
    headers = argv[split + 1:]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for header in headers:
            name = os.path.basename(header)
            inc = name if name.startswith("scoresde.h") else f"scoresde/{name}"
            jobs = [] if name.endswith(".hpp") else [(cc, "c", ["-std=c99"])]
            if cxx != "-":
                jobs.append((cxx, "cpp", ["-std=c++17" if name.endswith(".hpp") else "-std=c++11"]))
            for compiler, ext, std in jobs:
                src = os.path.join(tmp, f"only.{ext}")
                with open(src, "w") as f:
                    f.write(f"#include <{inc}>\nint scoresde_header_check_anchor;\n")
                cmd = [compiler, *std, "-Wall", "-Wextra", "-pedantic", "-Werror",
                       "-fsyntax-only", *includes, src]
                r = subprocess.run(cmd, capture_output=True, text=True)
                status = "ok" if r.returncode == 0 else "FAIL"
                print(f"{status}: {inc} as {std[0][5:]}")
                if r.returncode != 0:
                    print(r.stdout + r.stderr)
                    failures += 1
    return 1 if failures or not headers else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
