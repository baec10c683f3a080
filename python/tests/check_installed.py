"""Checks the installed package (CTest python_installed): run with PYTHONPATH set to the installed
packages folder under the prefix argv[1]. The package and libstrata must both come from that prefix."""

import os
import sys

import numpy as np

import strata

prefix = os.path.realpath(sys.argv[1])
assert os.path.realpath(strata.__file__).startswith(prefix + "/"), strata.__file__
with open("/proc/self/maps") as f:
    libs = {line.split()[-1] for line in f if "libstrata.so" in line}
assert libs and all(os.path.realpath(p).startswith(prefix + "/") for p in libs), libs
# The type stubs, the typing marker and the command-line modules are installed with the package.
package = os.path.dirname(strata.__file__)
for name in ("__init__.pyi", "py.typed", "__main__.py", "bench.py"):
    assert os.path.isfile(os.path.join(package, name)), name
assert '"tunables"' in strata._strata.info_json()

with strata.Worker(chips=1, sub_workers=1) as w:
    w.init()
    x = w.create_buffer((4,), np.int64)
    h = w.register_kernel("strata_allreduce")
    w.run(lambda o: None)
print("installed strata", strata.__version__, "from", os.path.dirname(strata.__file__))
