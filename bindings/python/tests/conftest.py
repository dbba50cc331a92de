"""Tests of the Python binding. Run with /usr/bin/python3 -m pytest; point
SCORESDE_LIBRARY at a build tree's lib/libscoresde.so.1 (meson test does)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
