"""Allreduce over a communication domain from Python: strata's own kernel submitted per chip, then the
Orchestrator's collective helper, each checked against numpy.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/allreduce.py [chips]   (2..8, default 4)

A domain "dp" over every chip carves two buffers from each member's window. `strata_allreduce` (shipped
in libstrata) is submitted once per member with that chip's device_ctx, summing "grad" in place on every
chip; `o.allreduce(dp, "peak", op=strata.ReduceOp.Max)` does the same for "peak" in one call (a group
task over the members). Exits 1 on any mismatch.
"""

import sys

import numpy as np

import strata
from example_util import Checker

COUNT = 1 << 16


def main() -> int:
    chips = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    if not 2 <= chips <= 8:
        sys.exit("usage: allreduce.py [chips]   (2..8)")
    rng = np.random.default_rng(7)
    grads = [rng.standard_normal(COUNT).astype(np.float32) for _ in range(chips)]
    peaks = [rng.integers(-1000, 1000, COUNT).astype(np.int32) for _ in range(chips)]
    check = Checker("allreduce")
    print(f"allreduce: {chips} chips, {COUNT} f32 (sum, kernel per chip) and {COUNT} i32 (max, helper) per chip")
    with strata.Worker(chips=chips) as w:
        allreduce = w.register_kernel("strata_allreduce")  # linked into libstrata
        w.init()
        got = {}

        def orch(o: strata.Orchestrator) -> None:
            spec = [strata.BufferSpec("grad", np.float32, COUNT), strata.BufferSpec("peak", np.int32, COUNT)]
            with o.allocate_domain(name="dp", workers=list(range(chips)), window_size=1 << 20, buffers=spec) as dp:
                for chip in dp.workers:
                    o.copy_to(dp[chip].buffer("grad"), grads[chip])
                    o.copy_to(dp[chip].buffer("peak"), peaks[chip])
                for chip in dp.workers:  # in-place sum of every member's "grad"
                    args = strata.TaskArgs().inout(dp[chip].buffer("grad")).scalar(dp[chip].device_ctx)
                    o.submit(allreduce, args, worker=chip)
                o.allreduce(dp, "peak", op=strata.ReduceOp.Max)
                for chip in dp.workers:  # copy_from waits for the buffer's last writer
                    got[chip] = (np.empty(COUNT, np.float32), np.empty(COUNT, np.int32))
                    o.copy_from(got[chip][0], dp[chip].buffer("grad"))
                    o.copy_from(got[chip][1], dp[chip].buffer("peak"))
            # the domain is released here, and freed once the run's tasks have finished

        w.run(orch)
    want_sum = np.sum(np.stack(grads).astype(np.float64), axis=0)
    want_max = np.max(np.stack(peaks), axis=0)
    for chip in range(chips):
        check.close(f"chip {chip}: grad = sum over chips", got[chip][0], want_sum, rtol=1e-5, atol=1e-5)
        check.exact(f"chip {chip}: peak = max over chips", got[chip][1], want_max)
    check.exact("every chip holds the same sum, bit for bit", np.stack([got[c][0] for c in range(chips)]),
                np.stack([got[0][0]] * chips))
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
