"""Prints where packages go under the prefix argv[1] for this interpreter (used by CMakeLists.txt).

sysconfig's default scheme names the folder for its own prefix (Debian: /usr/local/lib/python3.X/
dist-packages); the part below that prefix is kept and put under the one asked for.
"""
import sys
import sysconfig

default = sysconfig.get_path("platlib")
for base in (sys.base_prefix + "/local", sys.base_prefix, sys.prefix):
    if default.startswith(base.rstrip("/") + "/"):
        print(sys.argv[1].rstrip("/") + default[len(base.rstrip("/")):])
        break
else:
    print(default)
