#!/usr/bin/env python3
"""NumPy's own .npy files (float64 and float32, both byte orders, C and
Fortran order, format versions 1.0, 2.0 and 3.0, 1-D and 2-D) read by
sd_table_read give exactly NumPy's values; what sd_table_write writes
(.npy, and CSV through numpy.loadtxt) NumPy reads back exactly.
usage: check_npy.py TABLE_DUMP"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npf


def dump(exe, path, out=None):
    args = [exe, str(path)] + ([str(out)] if out else [])
    res = subprocess.run(args, capture_output=True, text=True, check=True)
    lines = res.stdout.split("\n")
    rows, cols = map(int, lines[0].split())
    names = lines[1:1 + cols]
    values = np.array([float.fromhex(v) for v in lines[1 + cols:1 + cols + rows * cols]])
    return values.reshape(rows, cols), names


def main():
    exe = sys.argv[1]
    rng = np.random.default_rng(7)
    base = rng.normal(size=(7, 3)) * 10.0 ** rng.integers(-30, 30, size=(7, 3))
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for dtype in ("<f8", ">f8", "<f4", ">f4"):
            for order in ("C", "F"):
                for version in ((1, 0), (2, 0), (3, 0)):
                    a = np.asarray(base.astype(dtype), order=order)
                    path = tmp / ("a%s%s%d.npy" % (dtype[0] == "<", order, version[0]))
                    with open(path, "wb") as f:
                        npf.write_array(f, a, version=version)
                    got, names = dump(exe, path)
                    want = a.astype(np.float64)
                    assert got.shape == want.shape and np.array_equal(got, want), (dtype, order, version)
                    assert names == ["1", "2", "3"]
                    checked += 1
        one = tmp / "one.npy"
        np.save(one, base[:, 0])
        got, _ = dump(exe, one)
        assert np.array_equal(got, base[:, :1])
        # writing: .npy back into NumPy, CSV into numpy.loadtxt, both exact
        src = tmp / "src.npy"
        np.save(src, base)
        out_npy, out_csv = tmp / "out.npy", tmp / "out.csv"
        dump(exe, src, out_npy)
        back = np.load(out_npy)
        assert back.dtype == np.float64 and back.flags.c_contiguous and np.array_equal(back, base)
        dump(exe, src, out_csv)
        assert np.array_equal(np.loadtxt(out_csv, delimiter=",", skiprows=1), base)
        got, names = dump(exe, out_csv)
        assert np.array_equal(got, base) and names == ["1", "2", "3"]
    print("check_npy: %d NumPy files read exactly; written .npy and CSV read back exactly" % checked)


if __name__ == "__main__":
    main()
