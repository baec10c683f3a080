"""Mixture-of-experts dispatch and combine with top-2 routing over an all-to-all, from Python.

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/moe.py [chips]   (2..4, default 2)

Each chip holds T tokens of hidden size H and EL experts (E = EL * N in all; expert e lives on chip
e // EL). Per step, over one domain "ep" (rank == chip):
  route    (kernel, per chip)  a gating matmul x·Wg picks each token's top-2 experts with softmax weights,
                               and lays the (token, pick) rows out in "send", chunk d for chip d
  dispatch (o.alltoall)        chunk d of every chip's "send" lands in chunk s of chip d's "recv"
  expert   (kernel, per chip)  every received row through its local expert: relu(row·We + be), into "ret"
  combine  (o.alltoall)        the results travel back: chunk s of "ret" to chip s's "back"
  finalize (kernel, per chip)  y[t] = w0 * (first expert's output) + w1 * (second's)
The same as examples/common/moe.cpp (C++, its own signalling kernels), here on strata's shipped
all-to-all. Two steps run over the same domain. The result is checked against a numpy reference of the
whole layer; exits 1 on any mismatch.
"""

import sys

import numpy as np

import strata
from example_util import Checker, kernel_library

TOKENS, HIDDEN, EXPERTS_PER_CHIP = 24, 16, 2  # T, H, EL
CAPACITY = 2 * TOKENS  # C: rows per (source, destination) chunk, enough if every pick goes to one chip
WIDTH = HIDDEN + 2  # a dispatched row: H values, the local expert, 1 (used)


def reference(x, wg, we, be):
    """numpy: top-2 routing (ties: lower index first), softmax over the two, experts, weighted sum."""
    logits = x.astype(np.float64) @ wg
    idx = np.argsort(-logits, axis=1, kind="stable")[:, :2].astype(np.int32)
    top = np.take_along_axis(logits, idx, axis=1)
    e1 = np.exp(top[:, 1] - top[:, 0])
    weights = np.stack([1.0 / (1.0 + e1), e1 / (1.0 + e1)], axis=1)
    y = np.zeros((x.shape[0], HIDDEN))
    for k in range(2):
        out = np.einsum("th,thj->tj", x.astype(np.float64), we[idx[:, k]]) + be[idx[:, k]]
        y += weights[:, k:k + 1] * np.maximum(out, 0.0)
    return idx, y


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    if not 2 <= n <= 4:
        sys.exit("usage: moe.py [chips]   (2..4)")
    e = EXPERTS_PER_CHIP * n
    rng = np.random.default_rng(11)
    wg = rng.uniform(-1, 1, (HIDDEN, e)).astype(np.float32)
    we = rng.uniform(-0.5, 0.5, (e, HIDDEN, HIDDEN)).astype(np.float32)
    be = rng.uniform(-0.1, 0.1, (e, HIDDEN)).astype(np.float32)
    print(f"moe: {n} chips, {TOKENS} tokens each (hidden {HIDDEN}), {e} experts ({EXPERTS_PER_CHIP} per chip), top-2")
    check = Checker("moe")
    f32, i32 = np.float32, np.int32
    spec = [
        strata.BufferSpec("x", f32, TOKENS * HIDDEN),
        strata.BufferSpec("wg", f32, HIDDEN * e),
        strata.BufferSpec("we", f32, EXPERTS_PER_CHIP * HIDDEN * HIDDEN),
        strata.BufferSpec("be", f32, EXPERTS_PER_CHIP * HIDDEN),
        strata.BufferSpec("route_idx", i32, 2 * TOKENS),
        strata.BufferSpec("route_w", f32, 2 * TOKENS),
        strata.BufferSpec("send", f32, n * CAPACITY * WIDTH),
        strata.BufferSpec("recv", f32, n * CAPACITY * WIDTH),
        strata.BufferSpec("ret", f32, n * CAPACITY * HIDDEN),
        strata.BufferSpec("back", f32, n * CAPACITY * HIDDEN),
        strata.BufferSpec("y", f32, TOKENS * HIDDEN),
    ]
    window = sum((s.count * 4 + 63) // 64 * 64 for s in spec)

    with strata.Worker(chips=n) as w:
        lib = kernel_library()
        route = w.register_kernel("pyex_moe_route", library=lib)
        expert = w.register_kernel("pyex_moe_expert", library=lib)
        finalize = w.register_kernel("pyex_moe_combine", library=lib)
        w.init()
        results = []

        def orch(o: strata.Orchestrator) -> None:
            with o.allocate_domain(name="ep", workers=list(range(n)), window_size=window, buffers=spec) as ep:
                for c in range(n):  # the router everywhere, each chip its own experts
                    mine = slice(c * EXPERTS_PER_CHIP, (c + 1) * EXPERTS_PER_CHIP)
                    o.copy_to(ep[c].buffer("wg"), wg)
                    o.copy_to(ep[c].buffer("we"), np.ascontiguousarray(we[mine]))
                    o.copy_to(ep[c].buffer("be"), np.ascontiguousarray(be[mine]))
                for step in (1, 2):
                    xs = [rng.uniform(-1, 1, (TOKENS, HIDDEN)).astype(f32) for _ in range(n)]
                    for c in range(n):
                        b = ep[c].buffer
                        o.copy_to(b("x"), xs[c])
                        o.submit(route, strata.TaskArgs().input(b("x")).input(b("wg")).output_existing(b("route_idx"))
                                 .output_existing(b("route_w")).output_existing(b("send"))
                                 .scalar(TOKENS).scalar(HIDDEN).scalar(e).scalar(EXPERTS_PER_CHIP).scalar(CAPACITY),
                                 worker=c)
                    o.alltoall(ep, "send", "recv")  # dispatch
                    for c in range(n):
                        b = ep[c].buffer
                        o.submit(expert, strata.TaskArgs().input(b("recv")).input(b("we")).input(b("be"))
                                 .output_existing(b("ret")).scalar(n).scalar(CAPACITY).scalar(HIDDEN),
                                 worker=c, block_dim=2)
                    o.alltoall(ep, "ret", "back")  # combine: every result back to its token's chip
                    for c in range(n):
                        b = ep[c].buffer
                        o.submit(finalize, strata.TaskArgs().input(b("back")).input(b("route_idx"))
                                 .input(b("route_w")).output_existing(b("y"))
                                 .scalar(TOKENS).scalar(HIDDEN).scalar(EXPERTS_PER_CHIP).scalar(n).scalar(CAPACITY),
                                 worker=c)
                    for c in range(n):  # copy_from waits for the buffer's last writer
                        y, idx = np.empty((TOKENS, HIDDEN), f32), np.empty((TOKENS, 2), i32)
                        o.copy_from(y, ep[c].buffer("y"))
                        o.copy_from(idx, ep[c].buffer("route_idx"))
                        results.append((step, c, xs[c], idx, y))

        w.run(orch)

    for step, c, x, idx, y in results:
        want_idx, want_y = reference(x, wg, we, be)
        print(f"step {step} chip {c}: rows per expert", np.bincount(idx.ravel(), minlength=e).tolist())
        check.exact(f"step {step} chip {c}: top-2 experts per token", idx, want_idx)
        check.close(f"step {step} chip {c}: combined outputs y vs numpy", y, want_y, rtol=1e-4, atol=1e-5)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
