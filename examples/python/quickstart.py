"""The quick start from Python: a kernel from a shared library, a Python host callable, a numpy buffer in
strata memory, and the order strata infers from the tags.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/quickstart.py

Exits 1 if the result differs from numpy's.
"""

import sys

import numpy as np

import strata
from example_util import Checker, kernel_library


def check_doubled(ctx: strata.TaskContext) -> None:
    """Runs in a sub process: the kernel has doubled x by now (the task reads x, which the kernel wrote)."""
    x = ctx.tensor(0)
    if not np.array_equal(x, 2.0 * np.arange(x.size, dtype=np.float32)):
        raise ValueError("x is not 2 * arange")


def main() -> int:
    check = Checker("quickstart")
    with strata.Worker(chips=4, sub_workers=1) as w:  # 4 simulated chips, 1 host helper; close() on exit
        scale = w.register_kernel("pyex_scale", library=kernel_library())
        checker = w.register_host(check_doubled, name="check_doubled")
        w.init()  # forks the chip and helper processes

        x = w.create_buffer((1 << 20,), np.float32)  # shared memory: every process sees it, zero-copy
        x[:] = np.arange(x.size, dtype=np.float32)

        def orch(o: strata.Orchestrator) -> None:
            o.submit(scale, strata.TaskArgs().inout(x).scalar(2.0), block_dim=2, worker=0)
            o.submit_host(checker, strata.TaskArgs().input(x))  # waits for `scale`: it wrote x
            o.submit(scale, strata.TaskArgs().inout(x).scalar(0.25), worker=1)  # waits for the check: it read x

        w.run(orch)  # returns when every task has finished; raises strata.TaskError if one failed
        print(f"x[10] = {x[10]}")
        check.exact("x = arange * 2 * 0.25", x, np.arange(x.size, dtype=np.float32) * np.float32(0.5))
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
