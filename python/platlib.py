"""Prints where this interpreter's packages go, relative to an install prefix (used by CMakeLists.txt).

sysconfig's default scheme names the folder under the interpreter's own prefix (Debian:
/usr/local/lib/python3.X/dist-packages); the part below that prefix is what an install under another
prefix uses too.
"""
import sys
import sysconfig

default = sysconfig.get_path("platlib")
for base in (sys.base_prefix + "/local", sys.base_prefix, sys.prefix):
    base = base.rstrip("/")
    if default.startswith(base + "/"):
        print(default[len(base) + 1 :])
        break
else:
    print(default)
