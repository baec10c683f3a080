"""A tensor-parallel feed-forward layer over 2 chips from Python, checked against numpy.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/tp_ffn.py

y = relu(x·W1)·W2 with W1 split by columns and W2 by rows (Megatron style): chip c holds W1[:, shard c]
and W2[shard c, :], computes its partial y_c = relu(x·W1_c)·W2_c with two matmul kernels (kernels.cpp),
and an allreduce over the domain "tp" sums the partials on both chips. Every buffer lives in the chips'
windows; the chain on each chip (matmul, matmul, allreduce) is ordered by the tags on those buffers.
Exits 1 if y differs from numpy's.
"""

import sys

import numpy as np

import strata
from example_util import Checker, kernel_library

CHIPS = 2
TOKENS, HIDDEN, FFN = 32, 64, 256  # x is TOKENS x HIDDEN, W1 HIDDEN x FFN, W2 FFN x HIDDEN
SHARD = FFN // CHIPS


def main() -> int:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((TOKENS, HIDDEN)).astype(np.float32)
    w1 = (rng.standard_normal((HIDDEN, FFN)) / np.sqrt(HIDDEN)).astype(np.float32)
    w2 = (rng.standard_normal((FFN, HIDDEN)) / np.sqrt(FFN)).astype(np.float32)
    print(f"tp_ffn: {CHIPS} chips, x {TOKENS}x{HIDDEN}, W1 {HIDDEN}x{FFN}, W2 {FFN}x{HIDDEN}, {SHARD} columns each")
    check = Checker("tp_ffn")
    with strata.Worker(chips=CHIPS) as w:
        matmul = w.register_kernel("pyex_matmul", library=kernel_library())
        w.init()
        y = {}

        def orch(o: strata.Orchestrator) -> None:
            spec = [
                strata.BufferSpec("x", np.float32, TOKENS * HIDDEN),
                strata.BufferSpec("w1", np.float32, HIDDEN * SHARD),
                strata.BufferSpec("w2", np.float32, SHARD * HIDDEN),
                strata.BufferSpec("h", np.float32, TOKENS * SHARD),
                strata.BufferSpec("y", np.float32, TOKENS * HIDDEN),
            ]
            with o.allocate_domain(name="tp", workers=list(range(CHIPS)), window_size=1 << 20, buffers=spec) as tp:
                for c in tp.workers:
                    shard = slice(c * SHARD, (c + 1) * SHARD)
                    b = tp[c].buffer
                    o.copy_to(b("x"), x)
                    o.copy_to(b("w1"), np.ascontiguousarray(w1[:, shard]))
                    o.copy_to(b("w2"), np.ascontiguousarray(w2[shard, :]))
                    # h = relu(x·W1_c), then the partial y_c = h·W2_c
                    o.submit(matmul, strata.TaskArgs().input(b("x")).input(b("w1")).output_existing(b("h"))
                             .scalar(TOKENS).scalar(HIDDEN).scalar(SHARD).scalar(1), worker=c, block_dim=2)
                    o.submit(matmul, strata.TaskArgs().input(b("h")).input(b("w2")).output_existing(b("y"))
                             .scalar(TOKENS).scalar(SHARD).scalar(HIDDEN).scalar(0), worker=c, block_dim=2)
                o.allreduce(tp, "y")  # y = y_0 + y_1 on both chips
                for c in tp.workers:
                    y[c] = np.empty((TOKENS, HIDDEN), np.float32)
                    o.copy_from(y[c], tp[c].buffer("y"))

        w.run(orch)
    want = np.maximum(x.astype(np.float64) @ w1, 0.0) @ w2
    for c in range(CHIPS):
        check.close(f"chip {c}: y = relu(x W1) W2", y[c], want, rtol=1e-4, atol=1e-4)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
